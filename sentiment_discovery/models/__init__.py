"""Models: the model kinds (kinds.py), recurrent and transformer language models, the hf encoder, classifier
heads, and loading any model the tools accept (loading.py)."""
