"""The app's widgets: filter bar, verdict list, detail pane, stats view and a text prompt."""
