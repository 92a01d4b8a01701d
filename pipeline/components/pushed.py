"""What our Pushers add to TFX's PushedModel artifact, in plain Python so that the run
summaries read it without loading TFX's Pusher."""

# The serving version directory that already holds this very model, when a blessed
# candidate was not pushed again (pipeline/components/atomic_pusher.py).
ALREADY_SERVING = "already_serving"
