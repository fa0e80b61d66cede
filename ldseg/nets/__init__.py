from ldseg.nets.denoiser import Denoiser
from ldseg.nets.image_encoder import ImageEncoder
from ldseg.nets.label_decoder import LabelDecoder
from ldseg.nets.label_encoder import LabelEncoder

__all__ = ["Denoiser", "ImageEncoder", "LabelDecoder", "LabelEncoder"]
