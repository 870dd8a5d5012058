"""The names the DFM service job speaks: app commands, message topics, reply codes, batch size.

Shared by the job's components (server and sites) and the application's
transport, which must not import FLARE's job machinery to know them.
"""

# App commands (admin API -> the server's job process). Every one but CMD_ATTACH carries the
# session's token (see dfm.flare.sessions):
CMD_ATTACH = "dfm.attach"  # open a session (or resume one, given its token)
CMD_POST = "dfm.post"
CMD_FETCH = "dfm.fetch"
CMD_STOP = "dfm.stop"  # end the session: its jobs are cancelled at the sites
CMD_KEEP = "dfm.keep"  # the application goes away and comes back later: wait that long for it
CMD_STATUS = "dfm.status"  # no token: which sites are ready or lost, how many sessions (nothing of theirs)
# ReliableMessage (job <-> job) and aux:
RM_DELIVER = "dfm.deliver"
RM_TO_APP = "dfm.to_app"
RM_READY = "dfm.ready"
RM_CANCEL = "dfm.cancel"  # server -> site: cancel these jobs (their session ended)
AUX_HEARTBEAT = "dfm.hb"
# Our reply to a message whose sender is not who it must be (not retried by honest senders)
RC_REFUSED = "DFM_REFUSED"

# The FLARE job name of a federation's DFM service
SERVICE_PREFIX = "dfm-service-"

# The most bytes of items sent in one message, and fetched by the application in one reply.
BATCH_BYTES = 4 << 20
