"""Model zoo: `create_model(name, num_classes, norm)` and `list_models()`.

One file per family: resnet (ResNet-18..101 and He et al.'s CIFAR ResNets), preresnet, wrn, resnext,
densenet, vgg. Importing this package does not import torch; building a model does.
"""

from resnet.models.registry import MODELS, ModelSpec, count_parameters, create_model, list_models

__all__ = ["MODELS", "ModelSpec", "count_parameters", "create_model", "list_models"]
