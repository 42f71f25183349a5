import convlab as torch
from convlab import nn
torch.manual_seed(0)
conv = nn.Conv2d(in_channels=1, out_channels=2, kernel_size=3, padding=1, stride=2)
print(conv)
conv.state_dict()['weight'][:] = 0
conv.state_dict()['weight'][0][0][1][1] = 1.5
conv.state_dict()['weight'][1][0] = torch.tensor([[1.0, 2, 3], [4, 5, 6], [7, 8, 9]]) / 9
conv.state_dict()['bias'][:] = torch.tensor([0.25, -1.0])
print(conv.weight)
print(conv.bias)
x = torch.zeros(1, 1, 5, 5)
x[0, 0, 1:3, 1:3] = 2
x[0][0][4][4] = -3.5
print(x)
y = conv(x)
print(y)
print(y.shape, y.shape[2], len(y))
print(nn.ReLU()(y))
print(nn.MaxPool2d(2)(x))
print(conv.state_dict().keys())
print(torch.tensor([1.5, -2.25, 1e-5]))
print(torch.tensor([123456.0, 1.0]))
print(torch.ones(2, 3) * 0.5)
print(-x[0, 0, 0])
print(x[0, 0, 1, 1])
print(x.sum())
print(torch.zeros(2, 2).dtype, x.dim(), x.numel())
for name, p in conv.named_parameters():
    print(name, p.shape)
print(conv.weight.requires_grad, y.requires_grad)
seq = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(18, 4))
print(seq)
print(seq(torch.ones(1, 1, 5, 5)).shape)
print(seq[0])
print(torch.tensor(3.0))
print(torch.tensor([[True, False]]))
print(torch.tensor([[1, -20], [3, 4]]))
z = torch.zeros(2, 3)
z[:, 1] = torch.tensor([1.0, 2.0])
print(z, z.T if hasattr(z, 'T') else None)
