"""lorapipe: LoRA fine-tuning pipeline."""

__version__ = "0.1.0"
