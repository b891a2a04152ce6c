"""The playground's architectures, each short enough to read in one sitting.

Every model maps a batch to logits (no activation on the output: the loss
applies softmax itself) and takes `lengths` when its input is a padded sequence.
"""

from __future__ import annotations

import math
import weakref
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .config import PlaygroundConfig
from .datasets import PAD, SEQ_VOCAB, ToyDataset

ACTIVATION_LAYERS = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "swish": nn.SiLU,
}
# Xavier gains per activation (swish and gelu behave like relu for this purpose).
_GAIN_NAME = {"relu": "relu", "leaky_relu": "leaky_relu", "gelu": "relu", "swish": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}


def _acts_differently_when_training(module: nn.Module) -> bool:
    """Dropout that drops, batch statistics, or (as in `Attention` and multi-layer RNNs) a `dropout` > 0."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return module.p > 0
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return True
    dropout = getattr(module, "dropout", 0.0)
    return isinstance(dropout, float) and dropout > 0


_SAME_IN_BOTH_MODES: weakref.WeakKeyDictionary[nn.Module, bool] = weakref.WeakKeyDictionary()


@contextmanager
def evaluating(model: nn.Module):
    """The model in eval mode for the block, then as it was. A network of these architectures with no dropout
    and no batch norm computes the same in both modes, and switching there and back walks every module twice
    (90 us for the default MLP; its evaluation went from 0.38 to 0.27 ms an epoch, about 0.4 % of a default
    run's training time), so then it is skipped."""
    same = _SAME_IN_BOTH_MODES.get(model)
    if same is None:
        same = _SAME_IN_BOTH_MODES[model] = not any(_acts_differently_when_training(m) for m in model.modules())
    was_training = model.training
    if not same:
        model.eval()
    try:
        yield model
    finally:
        if not same:
            model.train(was_training)


# MLP ----------------------------------------------------------------------


class HiddenLayer(nn.Module):
    def __init__(self, d_in: int, d_out: int, activation: str, dropout: float, batch_norm: bool):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.norm = nn.BatchNorm1d(d_out) if batch_norm else nn.Identity()
        self.act = ACTIVATION_LAYERS[activation]()
        self.drop = nn.Dropout(dropout)
        nn.init.xavier_uniform_(self.linear.weight, gain=nn.init.calculate_gain(_GAIN_NAME[activation]))
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.norm(self.linear(x))))


class MLP(nn.Module):
    """Hidden layers with their own activation and dropout; a skip wherever a layer keeps the width."""

    def __init__(self, d_in: int, num_classes: int, c: PlaygroundConfig):
        super().__init__()
        sizes = (d_in, *c.widths)
        self.hidden = nn.ModuleList(
            HiddenLayer(a, b, act, p, c.batch_norm)
            for a, b, act, p in zip(sizes[:-1], sizes[1:], c.activations, c.dropouts)
        )
        self.skips = [c.residual and a == b for a, b in zip(sizes[:-1], sizes[1:])]
        self.head = nn.Linear(sizes[-1], num_classes)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for layer, skip in zip(self.hidden, self.skips):
            x = x + layer(x) if skip else layer(x)
        return self.head(x)


# Residual feed-forward network --------------------------------------------


class ResidualBlock1d(nn.Module):
    """Two linear layers whose output is added to the input (projected when the width changes)."""

    def __init__(self, d_in: int, d_out: int, dropout: float):
        super().__init__()
        self.main = nn.Sequential(
            nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(d_out, d_out), nn.BatchNorm1d(d_out),
        )
        self.skip = nn.Identity() if d_in == d_out else nn.Linear(d_in, d_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.main(x) + self.skip(x))


class ResidualMLP(nn.Module):
    def __init__(self, d_in: int, num_classes: int, c: PlaygroundConfig):
        super().__init__()
        sizes = (d_in, *c.widths)
        self.blocks = nn.Sequential(*(ResidualBlock1d(a, b, p) for a, b, p in zip(sizes[:-1], sizes[1:], c.dropouts)))
        self.head = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x.flatten(1)))


# CNN with channel attention -----------------------------------------------


class ChannelAttention(nn.Module):
    """Squeeze by average and max pooling through one shared bottleneck; gates each channel."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(1, channels // reduction)  # never zero, even for 1-7 channels
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Each channel's weight in (0, 1): what the pictures show as the block's attention."""
        return torch.sigmoid(self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)[:, :, None, None]


class ConvBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, activation: str, dropout: float):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), ACTIVATION_LAYERS[activation](),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
            ChannelAttention(c_out), nn.Dropout2d(dropout),
        )
        needs_projection = stride != 1 or c_in != c_out
        self.skip = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if needs_projection else nn.Identity()
        )
        self.act = ACTIVATION_LAYERS[activation]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.main(x) + self.skip(x))


class AttentionCNN(nn.Module):
    """A stem, then one residual block per width (halving the size after the first), then pooling and a head."""

    def __init__(self, in_channels: int, num_classes: int, c: PlaygroundConfig):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c.widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(c.widths[0]), nn.ReLU())
        chans = (c.widths[0], *c.widths)
        self.blocks = nn.Sequential(*(
            ConvBlock(a, b, 1 if i == 0 else 2, act, p)
            for i, (a, b, act, p) in enumerate(zip(chans[:-1], chans[1:], c.activations, c.dropouts))
        ))
        self.head = nn.Linear(c.widths[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


# RNN ------------------------------------------------------------------------


def padding_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """True at real tokens, False at padding: shape (batch, max_len)."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class SequenceRNN(nn.Module):
    """An LSTM or GRU over packed sequences, pooled by masked attention or by each direction's true last step."""

    def __init__(self, num_classes: int, c: PlaygroundConfig):
        super().__init__()
        hidden = c.widths[0]
        self.embed = nn.Embedding(SEQ_VOCAB, hidden, padding_idx=PAD)
        rnn_cls = nn.LSTM if c.rnn_cell == "lstm" else nn.GRU
        self.rnn = rnn_cls(hidden, hidden, num_layers=c.layers, batch_first=True, bidirectional=c.bidirectional,
                           dropout=c.dropouts[0] if c.layers > 1 else 0.0)
        self.pooling = c.pooling
        out_dim = hidden * (2 if c.bidirectional else 1)
        self.score = nn.Linear(out_dim, 1)
        self.head = nn.Sequential(nn.Linear(out_dim, hidden), ACTIVATION_LAYERS[c.activations[0]](),
                                  nn.Dropout(c.dropouts[0]), nn.Linear(hidden, num_classes))

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(tokens), lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        if self.pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state  # (layers * directions, batch, hidden)
            directions = 2 if self.rnn.bidirectional else 1
            pooled = torch.cat(list(h_n[-directions:]), dim=-1)  # last layer; backward state has read to the start
        else:
            out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])
            scores = self.score(out).squeeze(-1)
            scores = scores.masked_fill(~padding_mask(lengths, tokens.shape[1]), float("-inf"))
            pooled = (torch.softmax(scores, dim=1).unsqueeze(-1) * out).sum(1)
        return self.head(pooled)


# Transformer encoder ----------------------------------------------------------


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def weights(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Attention probabilities (batch, heads, query, key), spelled out for pictures (forward fuses them)."""
        b, t, d = x.shape
        q, k, _ = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        return torch.softmax(scores.masked_fill(~keep[:, None, None, :], float("-inf")), dim=-1)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        # A boolean mask (True = may attend) avoids the -1e9 fill that overflows in fp16.
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :],
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(b, t, d))


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, activation: str, dropout: float, pre_norm: bool):
        super().__init__()
        self.attn = SelfAttention(dim, heads, dropout)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), ACTIVATION_LAYERS[activation](), nn.Linear(4 * dim, dim))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        if self.pre_norm:
            x = x + self.drop(self.attn(self.norm1(x), keep))
            return x + self.drop(self.ff(self.norm2(x)))
        x = self.norm1(x + self.drop(self.attn(x, keep)))
        return self.norm2(x + self.drop(self.ff(x)))


def sinusoidal_positions(max_len: int, dim: int) -> torch.Tensor:
    position = torch.arange(max_len)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table


class TransformerClassifier(nn.Module):
    """Token + position embeddings, encoder blocks with padding masks, masked mean pooling, a head."""

    def __init__(self, num_classes: int, max_len: int, c: PlaygroundConfig):
        super().__init__()
        dim = c.widths[0]
        self.max_len = max_len
        self.embed = nn.Embedding(SEQ_VOCAB, dim, padding_idx=PAD)
        if c.positions == "learned":
            self.positions = nn.Parameter(torch.randn(max_len, dim) * 0.02)  # not zeros: positions must differ
        else:
            self.register_buffer("positions", sinusoidal_positions(max_len, dim), persistent=False)
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, c.heads, act, p, c.norm == "pre") for act, p in zip(c.activations, c.dropouts)
        )
        self.final_norm = nn.LayerNorm(dim) if c.norm == "pre" else nn.Identity()
        self.head = nn.Linear(dim, num_classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        if t > self.max_len:
            raise ValueError(f"sequence of length {t} is longer than the model's maximum of {self.max_len}")
        keep = padding_mask(lengths, t)
        x = self.embed(tokens) + self.positions[:t]
        for block in self.blocks:
            x = block(x, keep)
        x = self.final_norm(x)
        weights = keep.unsqueeze(-1).to(x.dtype)
        return self.head((x * weights).sum(1) / weights.sum(1).clamp(min=1))


def build_model(c: PlaygroundConfig, data: ToyDataset) -> nn.Module:
    """The network a config names, sized for the data set; seeded by the caller."""
    d_in = math.prod(data.input_shape)
    if c.model == "mlp":
        return MLP(d_in, data.num_classes, c)
    if c.model == "resmlp":
        return ResidualMLP(d_in, data.num_classes, c)
    if c.model == "cnn":
        return AttentionCNN(data.input_shape[0], data.num_classes, c)
    if c.model == "rnn":
        return SequenceRNN(data.num_classes, c)
    return TransformerClassifier(data.num_classes, data.input_shape[0], c)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
