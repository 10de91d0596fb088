"""Drop-in modules for other trackers' APIs: ``import nabla.compat.wandb as wandb``."""
