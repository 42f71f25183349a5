import convlab as torch
from convlab import nn
torch.manual_seed(0)
conv = nn.Conv2d(1, 2, kernel_size=3, bias=False)
conv.state_dict()['weight'][0][0] = torch.tensor([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
conv.state_dict()['weight'][1][0] = torch.ones(3, 3)
image = torch.zeros(1, 5, 5)
image[0, :, 2] = 1
out = conv(image)
print(out.shape)
print(out)
print(nn.MaxPool2d(2)(image))
print(conv.weight.grad, image.type(), out.type())
print(torch.Tensor([[1, 2], [3, 4]]), torch.FloatTensor([0.5]))
print(torch.tensor([1.7, -2.2]).long(), torch.tensor([0.0, 3.0]).bool())
print(conv)
print(conv.state_dict())
print(int(torch.tensor(3.9)), float(torch.tensor(2)))
