"""The names a DFM session's FLARE job speaks: app commands, message topics, reply codes, batch size.

Shared by the job's components (server and sites) and the application's
transport, which must not import FLARE's job machinery to know them.
"""

# App commands (admin API -> the server's job process):
CMD_POST = "dfm.post"
CMD_FETCH = "dfm.fetch"
CMD_STOP = "dfm.stop"
CMD_KEEP = "dfm.keep"  # the application goes away and comes back later: wait that long for it
# ReliableMessage (job <-> job) and aux:
RM_DELIVER = "dfm.deliver"
RM_TO_APP = "dfm.to_app"
RM_READY = "dfm.ready"
AUX_HEARTBEAT = "dfm.hb"
# Our reply to a message whose sender is not who it must be (not retried by honest senders)
RC_REFUSED = "DFM_REFUSED"

# The most bytes of items sent in one message, and fetched by the application in one reply.
BATCH_BYTES = 4 << 20
