"""The models of scratchvision, built on ``scratchcore.nn``."""

from scratchvision.models.bicubic import bicubic_weights, resize_bicubic
from scratchvision.models.cnn import CNN, VARIANTS, WideFirstLayerCNN
from scratchvision.models.lenet import LeNet5
from scratchvision.models.mae import MaskedAutoencoder, patchify, random_masking, unpatchify
from scratchvision.models.mlp import MLP
from scratchvision.models.resnet import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    ResNet,
    ShortcutA,
    resnet18,
    resnet20,
    resnet32,
    resnet50,
    resnet56,
)
from scratchvision.models.resnet9 import ResNet9
from scratchvision.models.swin import SwinTransformerV2
from scratchvision.models.vit import VisionTransformer, interpolate_pos_embed
from scratchvision.models.whitening import PatchWhitening, image_patches, patch_whitening_filter

__all__ = [
    "CNN",
    "MLP",
    "VARIANTS",
    "BasicBlock",
    "Bottleneck",
    "CifarResNet",
    "LeNet5",
    "MaskedAutoencoder",
    "PatchWhitening",
    "ResNet",
    "ResNet9",
    "ShortcutA",
    "SwinTransformerV2",
    "VisionTransformer",
    "WideFirstLayerCNN",
    "bicubic_weights",
    "image_patches",
    "interpolate_pos_embed",
    "patch_whitening_filter",
    "patchify",
    "random_masking",
    "resize_bicubic",
    "resnet18",
    "resnet20",
    "resnet32",
    "resnet50",
    "resnet56",
    "unpatchify",
]
