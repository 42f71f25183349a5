import convlab as torch
from convlab import nn
import convlab.nn.functional as F
import numpy as np
torch.manual_seed(0)
x = torch.from_numpy((np.arange(2 * 3 * 6 * 6, dtype=np.float32).reshape(2, 3, 6, 6) % 7) / 7)
conv = nn.Conv2d(3, 4, kernel_size=3, stride=1, padding=1)
w = conv.weight.data
w[:] = torch.from_numpy((np.arange(4 * 3 * 9, dtype=np.float32).reshape(4, 3, 3, 3) % 5 - 2) / 4)
conv.bias.data[:] = torch.tensor([0.5, -0.5, 0.0, 1.0])
x0 = x[0].unsqueeze(0)
print(x0.shape)
filter0 = w[0]
bias0 = conv.bias.data[0]
r = F.conv2d(x0[:, 0:1, :, :], filter0[0:1].unsqueeze(0), padding=1)
g = F.conv2d(x0[:, 1:2, :, :], filter0[1:2].unsqueeze(0), padding=1)
b = F.conv2d(x0[:, 2:3, :, :], filter0[2:3].unsqueeze(0), padding=1)
combined = r + g + b + bias0
layer_out = conv(x0)
print(torch.allclose(combined, layer_out[:, 0:1, :, :], atol=1e-5))
print(combined[0, 0, :2])
print(layer_out[:, 0:1, :2, :2])
print(x[0].permute(1, 2, 0).shape, x[0].sum(dim=0, keepdim=True).shape)
print(x[0].sum(dim=0, keepdim=True)[0, :2])
print(layer_out.argmax(dim=1)[0, :2])
print(F.relu(torch.tensor([-1.0, 0.0, 2.5])))
print(F.max_pool2d(x0, 2).shape)
model = nn.Sequential(nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1), nn.ReLU(),
                      nn.Conv2d(8, 16, kernel_size=3, stride=1, padding=1), nn.ReLU(),
                      nn.MaxPool2d(kernel_size=2, stride=2), nn.Flatten(),
                      nn.Linear(16 * 3 * 3, 64), nn.ReLU(), nn.Linear(64, 10))
print(model)
out = x0
for layer in model:
    out = layer(out)
    print(layer.__class__.__name__, out.shape)
print(sum(p.numel() for p in model.parameters()))
print((torch.tensor([1, 2, 3]) == torch.tensor([1, 0, 3])).sum().item())
print(torch.tensor([[0.1, 0.9], [0.8, 0.2]]).argmax(dim=1))
