"""Using a trained model: the Tagger, evaluation, metrics, error analysis, output formats, export."""
