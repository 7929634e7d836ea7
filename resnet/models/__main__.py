"""`python -m resnet.models`: every registered model with its parameters and forward MFLOPs."""

from resnet.models.table import print_model_table

print_model_table()
