"""Reading data: what --data names, the readers of its formats, and raw text into tokens."""
