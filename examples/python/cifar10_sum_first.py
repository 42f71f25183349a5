"""The CIFAR-10 sum-first notebook (docs/notebooks/cifar10_sum_first.txt) with convlab in PyTorch's
place. What changes, and why:
  - the data come from convlab.load_dataset (the CIFAR-10 subset shipped in data/, or any CIFAR-10
    binary directory: CONVLAB_DATA) instead of torchvision, already scaled as ToTensor scales;
  - training is convlab.train, the command line's trainer (Adam 1e-3, batch 64, shuffled each
    epoch), which updates the model in place as the notebook's loop does; the per-epoch callback
    collects the losses the notebook plots;
  - the sum-first model is written as layers, nn.ChannelSum() first (the notebook's
    x.sum(dim=1, keepdim=True)), since convlab trains models built from layers.
Everything else is the notebook's code. Plots need matplotlib (python3-matplotlib); without it, or
with CONVLAB_NO_PLOTS=1, they are skipped with a note. CONVLAB_EPOCHS=N trains N epochs (25).

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/cifar10_sum_first.py
"""
import os

import convlab as torch
import convlab.nn.functional as F
from convlab import nn

try:
    if os.environ.get("CONVLAB_NO_PLOTS"):
        raise ImportError("plots switched off")
    from matplotlib import pyplot as plt
except ImportError as e:
    print(f"(no plots: {e})")
    plt = None

EPOCHS = int(os.environ.get("CONVLAB_EPOCHS", "25"))
DATA = os.environ.get("CONVLAB_DATA") or torch.default_data_dir()

torch.manual_seed(0)
train_images, train_labels, classes = torch.load_dataset(DATA, train=True)
test_images, test_labels, _ = torch.load_dataset(DATA, train=False)
batch, labels = train_images[:64], train_labels[:64]
print(batch.shape)  # torch.Size([64, 3, 32, 32])

if plt:
    fig, axes = plt.subplots(1, 4, figsize=(10, 3))
    for i, ax in enumerate(axes):
        img = batch[i].permute(1, 2, 0).numpy()  # (C, H, W) -> (H, W, C) for matplotlib
        ax.imshow(img)
        ax.set_title(classes[labels[i]])
        ax.axis('off')
    plt.tight_layout()
    plt.show()

model = nn.Sequential(
    nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1),   # (3, 32, 32) -> (8, 32, 32)
    nn.ReLU(),
    nn.Conv2d(8, 16, kernel_size=3, stride=1, padding=1),  # (8, 32, 32) -> (16, 32, 32)
    nn.ReLU(),
    nn.MaxPool2d(kernel_size=2, stride=2),                 # (16, 32, 32) -> (16, 16, 16)
    nn.Flatten(),                                          # -> 16 * 16 * 16 = 4096
    nn.Linear(16 * 16 * 16, 64),
    nn.ReLU(),
    nn.Linear(64, 10)
)
model_standard = model

# Pass one image through the network and inspect the output of each layer.
x = batch[0].unsqueeze(0)
for layer in model:
    x = layer(x)
    print(layer.__class__.__name__, x.shape)

# The first filter of the first layer, by hand: one kernel per input channel, then the sum.
x = batch[0].unsqueeze(0)                 # (1, 3, 32, 32)
w = model[0].weight.data                  # (8, 3, 3, 3)
filter0 = w[0]                            # (3, 3, 3): three kernels
bias0 = model[0].bias.data[0]
r_out = F.conv2d(x[:, 0:1, :, :], filter0[0:1].unsqueeze(0), padding=1)  # red channel
g_out = F.conv2d(x[:, 1:2, :, :], filter0[1:2].unsqueeze(0), padding=1)  # green channel
b_out = F.conv2d(x[:, 2:3, :, :], filter0[2:3].unsqueeze(0), padding=1)  # blue channel
combined = r_out + g_out + b_out + bias0
layer_out = model[0](x)
filter0_out = layer_out[:, 0:1, :, :]
print(torch.allclose(combined, filter0_out, atol=1e-5))  # should print True

if plt:
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    titles = ['R contribution', 'G contribution', 'B contribution', 'Summed (filter 0 output)']
    for ax, m, title in zip(axes, [r_out, g_out, b_out, combined], titles):
        ax.imshow(m[0, 0].detach().numpy(), cmap='gray')
        ax.set_title(title)
        ax.axis('off')
    plt.tight_layout()
    plt.show()

# Model B: sum the channels first, then convolve.
model_sumfirst = nn.Sequential(
    nn.ChannelSum(),                                # (B, 3, 32, 32) -> (B, 1, 32, 32): the key line
    nn.Conv2d(1, 8, kernel_size=3, padding=1),      # only 1 input channel now
    nn.ReLU(),
    nn.Conv2d(8, 16, kernel_size=3, padding=1),
    nn.ReLU(),
    nn.MaxPool2d(2, 2),
    nn.Flatten(),
    nn.Linear(16 * 16 * 16, 64),
    nn.ReLU(),
    nn.Linear(64, 10)
)


def train(model, epochs=EPOCHS):
    losses = []
    metrics = torch.train(model=model, data=DATA, epochs=epochs, batch_size=64, lr=0.001,
                          optimizer="adam", threads=2,
                          on_epoch=lambda record: losses.append(record["loss"]))
    return losses, metrics["evaluation"]["accuracy"]


losses_standard, acc_standard = train(model_standard)
losses_sumfirst, acc_sumfirst = train(model_sumfirst)
print(f"standard: loss {losses_standard[0]:.4f} -> {losses_standard[-1]:.4f}, "
      f"test accuracy {acc_standard:.3f}")
print(f"sum-first: loss {losses_sumfirst[0]:.4f} -> {losses_sumfirst[-1]:.4f}, "
      f"test accuracy {acc_sumfirst:.3f}")

if plt:
    epochs = range(1, len(losses_standard) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].plot(epochs, losses_standard, label='Standard (RGB)')
    axes[0].plot(epochs, losses_sumfirst, label='Sum-first')
    axes[0].set_title('Training Loss per Epoch')
    axes[0].set_xlabel('Epoch')
    axes[0].set_ylabel('Loss')
    axes[0].legend()
    axes[1].bar(['Standard (RGB)', 'Sum-first'], [acc_standard, acc_sumfirst])
    axes[1].set_title('Test Accuracy')
    axes[1].set_ylabel('Accuracy')
    axes[1].set_ylim(0, 1)
    for i, acc in enumerate([acc_standard, acc_sumfirst]):
        axes[1].text(i, acc + 0.01, f'{acc:.3f}', ha='center')
    plt.tight_layout()
    plt.show()

    fig, axes = plt.subplots(3, 2, figsize=(5, 8))
    for i in range(3):
        img = batch[i]                                 # (3, 32, 32)
        collapsed = img.sum(dim=0, keepdim=True)       # (1, 32, 32)
        axes[i, 0].imshow(img.permute(1, 2, 0).numpy())
        axes[i, 0].set_title(f'{classes[labels[i]]} - original (RGB)')
        axes[i, 0].axis('off')
        axes[i, 1].imshow(collapsed[0].numpy(), cmap='gray')
        axes[i, 1].set_title('channel-summed')
        axes[i, 1].axis('off')
    plt.tight_layout()
    plt.show()
