"""The architecture table: parameter counts against torchvision and He et al., depth names."""

import pytest
from conftest import trainable_parameters

import ddnn_tf
from ddnn_tf.models import architectures

# torchvision.models.resnet{18,34,50,101,152}(): sum of p.numel() over parameters().
TORCHVISION_PARAMETERS = {
    18: 11_689_512,
    34: 21_797_672,
    50: 25_557_032,
    101: 44_549_160,
    152: 60_192_808,
}


def _cifar_parameters(widths, blocks, classes=10, in_channels=3):
    """Trainable parameters of a CIFAR ResNet (zero-pad shortcuts), counted by hand."""
    total = 9 * in_channels * widths[0] + 2 * widths[0]  # stem conv and BN
    channels = widths[0]
    for width, count in zip(widths, blocks):
        for block in range(count):
            total += 9 * channels * width + 9 * width * width + 4 * width  # two convs, two BNs
            channels = width
    return total + channels * classes + classes


@pytest.mark.parametrize("arch,depths", [("resnet34", (18, 34)), ("resnet152", (50, 101, 152))])
def test_imagenet_parameter_counts_equal_torchvision(arch, depths):
    # Shared BN: only then does the whole model hold exactly the full net's parameters.
    model = ddnn_tf.build_ddnn(arch, 1000, (224, 224, 3), bn="shared")
    assert model.depths == depths
    assert model.backbone.stem == "imagenet"
    for depth in depths:
        assert trainable_parameters(model.subnet(depth)) == TORCHVISION_PARAMETERS[depth]
        assert model.parameter_count(depth) == TORCHVISION_PARAMETERS[depth]
    assert trainable_parameters(model) == TORCHVISION_PARAMETERS[model.full_depth]


def test_resnet101_holds_resnet50():
    assert architectures.standard_subdepths("resnet101") == (50, 101)


def test_cifar_parameter_counts_match_he_et_al():
    # He et al. 2016, table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
    model = ddnn_tf.build_ddnn("resnet110", 10, (32, 32, 3))
    assert model.depths == (20, 32, 44, 56, 110)
    assert model.backbone.stem == "cifar"
    counts = {depth: trainable_parameters(model.subnet(depth)) for depth in model.depths}
    expected = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}
    for depth, millions in expected.items():
        assert abs(counts[depth] - millions) <= 0.005e6 if depth < 110 else 0.05e6, (depth, counts)


@pytest.mark.parametrize("width,widths", [(0.25, (4, 8, 16)), (0.5, (8, 16, 32)), (1.0, (16, 32, 64))])
def test_width_multiplier_and_small_depths_have_exact_parameter_counts(width, widths):
    model = ddnn_tf.build_ddnn("resnet20", 10, (32, 32, 3), depths=(8, 14), width=width)
    assert model.depths == (8, 14, 20)
    for depth, n in ((8, 1), (14, 2), (20, 3)):
        assert model.parameter_count(depth) == _cifar_parameters(widths, (n, n, n)), depth
    assert model.parameter_count(20) == {0.25: 17_326, 0.5: 68_050, 1.0: 269_722}[width]
    # ResNet-8 and -14 exist as plain archs too, for independent training.
    assert ddnn_tf.build_ddnn("resnet8", 10, (32, 32, 3), width=width).parameter_count() == _cifar_parameters(widths, (1, 1, 1))
    # They are held only when asked for: an arch's default depths stay the published ones.
    assert ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3)).depths == (20, 32, 44, 56)


def test_standard_depth_subset_and_custom_names():
    model = ddnn_tf.build_ddnn("resnet56", 10, (32, 32, 3), depths=(20,))
    assert model.depths == (20, 56)
    assert model.full_depth == 56
