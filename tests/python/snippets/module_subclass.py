import convlab as torch
from convlab import nn
import convlab.nn.functional as F
torch.manual_seed(0)
class SumFirstCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(16 * 16 * 16, 64)
        self.fc2 = nn.Linear(64, 10)
    def forward(self, x):
        x = x.sum(dim=1, keepdim=True)
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = self.pool(x)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)
m = SumFirstCNN()
print(m)
y = m(torch.ones(2, 3, 32, 32))
print(y.shape, y.grad_fn is not None)
print(list(m.state_dict().keys()))
print(sum(p.numel() for p in m.parameters()))
