"""The development stack started by `bus dev`."""
