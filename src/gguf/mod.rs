//! GGUF → Hugging Face folder import (in progress).
