import convlab as torch
print(torch.arange(20))
print(torch.arange(1200))
print(torch.arange(2000).reshape(40, 50))
print(torch.arange(24).reshape(2, 3, 4))
print(torch.tensor([], dtype=torch.long), torch.zeros(0, 3, dtype=torch.int64), torch.tensor([True, False]))
print(torch.tensor([-5, 100, 7]), torch.tensor(7), torch.tensor([[True], [False]]))
print(torch.arange(1200) > 600)
print(torch.tensor([10**12, -3]))
