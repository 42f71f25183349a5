import convlab as torch
from convlab import nn
torch.manual_seed(0)
c = nn.Conv2d(1, 1, 2)
c.state_dict()['weight'][:] = torch.ones(1, 1, 2, 2)
with torch.no_grad():
    c.weight *= 2
    c.bias.fill_(0)
x = torch.ones(1, 1, 3, 3)
print(c(x))
c.weight = nn.Parameter(torch.ones(1, 1, 2, 2) * 5)
print(c(x), c.state_dict()['weight'])
y = torch.ones(3); z = y; z += 1; print(y)
s = y[0:2]; s *= 5; print(y)
print(list(torch.tensor([1, 2])), list(torch.tensor([True, False])))
for i, v in enumerate(torch.arange(3)):
    print(i, v, v.item())
print(sum(torch.tensor([1.0, 2.0])), max(torch.tensor([3, 1])))
print(torch.tensor([2.0]) ** 2, 2 ** torch.tensor([1.0, 3.0]), torch.tensor([7, 8]) // 3, torch.tensor([7, 8]) % 3)
m = torch.tensor([1.0, -1.0, 2.0]) >= 0
print(m, ~m, m & m, torch.tensor([1.0, 2.0]) <= 1.5)
print(f"{torch.tensor(0.25):.3f}", "{}".format(torch.tensor(2.5)))
print(torch.max(torch.tensor([[1., 5.], [7., 2.]]), 1))
print(torch.max(torch.tensor([[1., 5.], [7., 2.]]), 1).values)
w = torch.ones(2, 3, requires_grad=True)
out = w * 1
print(out.reshape(-1), out.flatten(), out.view(-1))
print(out.sum(1), out.mean(dim=1), out.squeeze(0), out[None].shape, out[..., 0])
print(out[[0]], out[out > 0])
print(x.shape[1:], x.shape + (1,))
print(nn.Conv2d(1, 1, 2, bias=False).bias)
lin = nn.Linear(3, 2)
print(lin(torch.ones(3)).shape, lin(torch.ones(2, 4, 3)).shape)
print(nn.Conv2d(1, 1, 2).load_state_dict(nn.Conv2d(1, 1, 2).state_dict()))
print(torch.Tensor(2, 3).shape, torch.zeros_like(x).shape, torch.ones(2, requires_grad=True))
print(torch.tensor([3., 1.]).min(), torch.tensor([1., 2., 3.]).std())
seq = nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.Flatten())
with torch.no_grad():
    for p in seq.parameters():
        p.fill_(0.25)
print(seq[0:2])
print(seq(x))
print(len(list(seq.modules())), torch.where(m, 1.0, 0.0))
tail = nn.Sequential(nn.Conv2d(1, 1, 2), nn.Identity())
with torch.no_grad():
    for p in tail.parameters():
        p.fill_(-0.5)
print(tail(x))
