"""The multi-channel convolution notebook (docs/notebooks/multichannel_convolution.txt), cell for
cell, with convlab in PyTorch's place: `import convlab as torch` and `from convlab import nn` are
the only changes. Run it:

    PYTHONPATH=build/release/python /usr/bin/python3 examples/python/multichannel_convolution.py

It prints the notebook's tensors (tests/python compares them with what PyTorch prints running this
very file) and shows the notebook's plots when matplotlib is installed (python3-matplotlib); set
CONVLAB_NO_PLOTS=1 to skip them.
"""
import os

import convlab as torch
from convlab import nn

try:
    if os.environ.get("CONVLAB_NO_PLOTS"):
        raise ImportError("plots switched off")
    import matplotlib.pyplot as plt
except ImportError as e:
    print(f"(no plots: {e})")

    class _NoPlots:
        """Stands in for matplotlib.pyplot: every call does nothing."""
        cm = type("cm", (), {"gray": None})

        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    plt = _NoPlots()

# Multiple output channels
conv1 = nn.Conv2d(in_channels=1, out_channels=3, kernel_size=3)
Gx = torch.tensor([[1.0, 0, -1.0], [2.0, 0, -2.0], [1.0, 0.0, -1.0]])
Gy = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
conv1.state_dict()['weight'][0][0] = Gx
conv1.state_dict()['weight'][1][0] = Gy
conv1.state_dict()['weight'][2][0] = torch.ones(3, 3)
conv1.state_dict()['bias'][:] = torch.tensor([0.0, 0.0, 0.0])
print(conv1.state_dict()['bias'])
for x in conv1.state_dict()['weight']:
    print(x)

image = torch.zeros(1, 1, 5, 5)
image[0, 0, :, 2] = 1
print(image)
plt.imshow(image[0, 0, :, :].numpy(), interpolation='nearest', cmap=plt.cm.gray)
plt.colorbar()
plt.show()

out = conv1(image)
print(out.shape)
for channel, image in enumerate(out[0]):
    plt.imshow(image.detach().numpy(), interpolation='nearest', cmap=plt.cm.gray)
    print(image)
    plt.title("channel {}".format(channel))
    plt.colorbar()
    plt.show()

image1 = torch.zeros(1, 1, 5, 5)
image1[0, 0, 2, :] = 1
print(image1)
plt.imshow(image1[0, 0, :, :].detach().numpy(), interpolation='nearest', cmap=plt.cm.gray)
plt.show()

out1 = conv1(image1)
for channel, image in enumerate(out1[0]):
    plt.imshow(image.detach().numpy(), interpolation='nearest', cmap=plt.cm.gray)
    print(image)
    plt.title("channel {}".format(channel))
    plt.colorbar()
    plt.show()

# Multiple input channels
image2 = torch.zeros(1, 2, 5, 5)
image2[0, 0, 2, :] = -2
image2[0, 1, 2, :] = 1
print(image2)
for channel, image in enumerate(image2[0]):
    plt.imshow(image.detach().numpy(), interpolation='nearest', cmap=plt.cm.gray)
    print(image)
    plt.title("channel {}".format(channel))
    plt.colorbar()
    plt.show()

conv3 = nn.Conv2d(in_channels=2, out_channels=1, kernel_size=3)
Gx1 = torch.tensor([[0.0, 0.0, 0.0], [0, 1.0, 0], [0.0, 0.0, 0.0]])
conv3.state_dict()['weight'][0][0] = 1 * Gx1
conv3.state_dict()['weight'][0][1] = -2 * Gx1
conv3.state_dict()['bias'][:] = torch.tensor([0.0])
print(conv3.state_dict()['weight'])
print(conv3(image2))

# Multiple input and multiple output channels
conv4 = nn.Conv2d(in_channels=2, out_channels=3, kernel_size=3)
conv4.state_dict()['weight'][0][0] = torch.tensor([[0.0, 0.0, 0.0], [0, 0.5, 0], [0.0, 0.0, 0.0]])
conv4.state_dict()['weight'][0][1] = torch.tensor([[0.0, 0.0, 0.0], [0, 0.5, 0], [0.0, 0.0, 0.0]])
conv4.state_dict()['weight'][1][0] = torch.tensor([[0.0, 0.0, 0.0], [0, 1, 0], [0.0, 0.0, 0.0]])
conv4.state_dict()['weight'][1][1] = torch.tensor([[0.0, 0.0, 0.0], [0, -1, 0], [0.0, 0.0, 0.0]])
conv4.state_dict()['weight'][2][0] = torch.tensor([[1.0, 0, -1.0], [2.0, 0, -2.0], [1.0, 0.0, -1.0]])
conv4.state_dict()['weight'][2][1] = torch.tensor([[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]])
conv4.state_dict()['bias'][:] = torch.tensor([0.0, 0.0, 0.0])
image4 = torch.zeros(1, 2, 5, 5)
image4[0][0] = torch.ones(5, 5)
image4[0][1][2][2] = 1
for channel, image in enumerate(image4[0]):
    plt.imshow(image.detach().numpy(), interpolation='nearest', cmap=plt.cm.gray)
    print(image)
    plt.title("channel {}".format(channel))
    plt.colorbar()
    plt.show()
z = conv4(image4)
print(z)

# Practice: two one-channel convolutions summed give the two-channel convolution
imageA = torch.zeros(1, 1, 5, 5)
imageB = torch.zeros(1, 1, 5, 5)
imageA[0, 0, 2, :] = -2
imageB[0, 0, 2, :] = 1
conv5 = nn.Conv2d(in_channels=1, out_channels=1, kernel_size=3)
conv6 = nn.Conv2d(in_channels=1, out_channels=1, kernel_size=3)
Gx1 = torch.tensor([[0.0, 0.0, 0.0], [0, 1.0, 0], [0.0, 0.0, 0.0]])
conv5.state_dict()['weight'][0][0] = 1 * Gx1
conv6.state_dict()['weight'][0][0] = -2 * Gx1
conv5.state_dict()['bias'][:] = torch.tensor([0.0])
conv6.state_dict()['bias'][:] = torch.tensor([0.0])
print(conv5(imageA) + conv6(imageB))
