"""Our TFX components: the JSON-lines/CSV ExampleGen, the curated schema, the data gate,
the atomic local Pusher and the per-run report. Each module imports
`pipeline.keras_choice` first, as TFX may load it first in a component's own process."""
