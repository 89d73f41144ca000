"""Convolutional autoencoders.

:class:`ConvAutoencoder` builds an encoder of strided convolutions and a
decoder of transposed convolutions that mirrors it *exactly*: each transposed
layer gets the ``output_padding`` that restores the size its mirror image had,
so any configuration reconstructs 28x28 inputs as 28x28, never 27 or 29.

:class:`SourceConvAutoencoder` is the network of the source material, kept to
show how its decoder reaches 28x28 only by a coincidence of paddings.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..checks import positive_int
from .autoencoders import Autoencoder
from .autoencoders import activation as make_activation


def conv_out(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution: ``floor((size + 2p - k) / s) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_stack(in_channels: int, channels: Sequence[int], kernel: int, stride: int, padding: int,
               act: str, spatial: tuple[int, int]) -> tuple[nn.Sequential, list[tuple[int, int]]]:
    """Convolutions ``in_channels -> channels[0] -> ...`` with ``act`` after each but the last.

    Returns the stack and the spatial size before each layer and after the last.
    """
    layers, sizes = [], [spatial]
    c_in = in_channels
    for i, c_out in enumerate(channels):
        layers.append(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding))
        if i < len(channels) - 1:
            layers.append(make_activation(act))
        h, w = sizes[-1]
        sizes.append((conv_out(h, kernel, stride, padding), conv_out(w, kernel, stride, padding)))
        if min(sizes[-1]) < 1:
            raise ValueError(
                f"layer {i} shrinks the image to {sizes[-1]}; use fewer layers, a smaller kernel or stride."
            )
        c_in = c_out
    return nn.Sequential(*layers), sizes


def deconv_stack(channels: Sequence[int], out_channels: int, kernel: int, stride: int, padding: int,
                 act: str, sizes: list[tuple[int, int]]) -> nn.Sequential:
    """The mirror of :func:`conv_stack`: transposed convolutions back to ``sizes[0]`` exactly.

    A transposed convolution of stride s maps length n to ``(n - 1)s - 2p + k + op``;
    ``op`` (output padding, 0 <= op < s) is chosen per layer to hit the encoder's size.
    """
    chans = list(channels[::-1]) + [out_channels]
    layers = []
    for i in range(len(channels)):
        (h_out, w_out), (h_in, w_in) = sizes[-2 - i], sizes[-1 - i]
        op = tuple(target - ((n - 1) * stride - 2 * padding + kernel) for target, n in ((h_out, h_in), (w_out, w_in)))
        layers.append(nn.ConvTranspose2d(chans[i], chans[i + 1], kernel, stride=stride, padding=padding,
                                         output_padding=op))
        if i < len(channels) - 1:
            layers.append(make_activation(act))
    return nn.Sequential(*layers)


class ConvAutoencoder(Autoencoder):
    """A convolutional autoencoder whose decoder mirrors the encoder exactly.

    Parameters
    ----------
    channels : sequence of int
        Output channels of the encoder's convolutions, e.g. ``(16, 32)``.
    kernel_size, stride, padding : int
        Shared by every convolution (and its transposed mirror).
    code_size : int, optional
        If given, a linear layer maps the last feature map to a flat code of this
        size (for comparisons with dense autoencoders at equal code size). If not,
        the last feature map *is* the code: with one channel it can be shown as an
        image (e.g. ``channels=(4, 4, 1), kernel_size=5, stride=1, padding=0``
        gives a 16x16 code for 28x28 inputs, as in the source).
    input_shape : (C, H, W)
    activation : str
        Nonlinearity between layers.
    **kwargs
        ``output``, ``loss``, ``code_activation``, ``corruption``, ``sparsity``, ...:
        see :class:`~companion.models.autoencoders.Autoencoder`.

    Shapes
    ------
    input (n, C, H, W) -> code (n, code_size) or (n, channels[-1], h, w) -> output (n, C, H, W).
    """

    def __init__(self, channels: Sequence[int] = (16, 32), kernel_size: int = 3, stride: int = 2,
                 padding: int = 1, code_size: int | None = None, input_shape: Sequence[int] = (1, 28, 28),
                 activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__iter__") or not list(channels):
            raise ValueError(f"channels={channels!r}: need at least one positive channel count.")
        channels = [positive_int(c, f"every entry of channels={list(channels)} (a positive channel count)")
                    for c in channels]
        input_shape = tuple(positive_int(s, f"input_shape={tuple(input_shape)}") for s in input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"input_shape={input_shape}: give (channels, height, width).")
        kernel_size, stride = positive_int(kernel_size, "kernel_size"), positive_int(stride, "stride")
        padding = positive_int(padding, "padding", 0)
        if code_size is not None:
            code_size = positive_int(code_size, "code_size (must be positive)")
        # the constructor's arguments as attributes: `config` reads them back (ConstructorConfig)
        self.channels, self.kernel_size, self.stride, self.padding = channels, kernel_size, stride, padding
        self.code_size, self.input_shape, self.activation = code_size, input_shape, activation
        convs, sizes = conv_stack(input_shape[0], channels, kernel_size, stride, padding, activation,
                                  input_shape[1:])
        deconvs = deconv_stack(channels, input_shape[0], kernel_size, stride, padding, activation, sizes)
        self.feature_shape = (channels[-1], *sizes[-1])
        if code_size is None:
            self.encoder, self.decoder = convs, deconvs
        else:
            flat = channels[-1] * sizes[-1][0] * sizes[-1][1]
            self.encoder = nn.Sequential(*convs, make_activation(activation), nn.Flatten(),
                                         nn.Linear(flat, int(code_size)))
            self.decoder = nn.Sequential(nn.Linear(int(code_size), flat), make_activation(activation),
                                         nn.Unflatten(1, self.feature_shape), *deconvs)

    @property
    def code_shape(self) -> tuple[int, ...]:
        code = self.code_size
        return (code,) if code is not None else self.feature_shape

    def first_layer_filters(self) -> torch.Tensor:
        """The first convolution's kernels, (out_channels, in_channels, k, k), on the CPU."""
        return self.encoder[0].weight.detach().cpu()


class SourceConvAutoencoder(Autoencoder):
    """The source material's convolutional autoencoder, layer for layer.

    Encoder: Conv(1->16, 3, stride 3, pad 1) 28->10, MaxPool(2, 2) ->5,
    Conv(16->8, 3, stride 2, pad 1) ->3, MaxPool(2, stride 1) ->2: a 8x2x2 code.
    Decoder: ConvT(8->16, 3, stride 2) 2->5, ConvT(16->8, 5, stride 3, pad 1) 5->15,
    ConvT(8->1, 2, stride 2, pad 1) 15->28, then Tanh. Every size is fixed by hand;
    change one kernel or stride and the output is no longer 28x28 (see
    :func:`~companion.models.autoencoders.layer_shapes`). ``output="tanh"`` matches
    data normalized to [-1, 1].
    """

    def __init__(self, output: str = "tanh", **kwargs):
        super().__init__(output=output, **kwargs)
        self.input_shape = (1, 28, 28)
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, stride=2),
            nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.ReLU(),
            nn.MaxPool2d(2, stride=1),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(8, 16, 3, stride=2), nn.ReLU(),
            nn.ConvTranspose2d(16, 8, 5, stride=3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(8, 1, 2, stride=2, padding=1),
        )
