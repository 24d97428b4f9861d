"""The quantising head of the VQ-VAE against hand computations on tiny codebooks."""

from __future__ import annotations

import math

import pytest
import torch

from aekit.core.quantisation import Codebook, QuantisingHead, VectorQuantiser


def started_book(vectors, counts, *, decay=0.5, restart_threshold=0.0, eps=0.0) -> Codebook:
    vectors = torch.tensor(vectors, dtype=torch.float32)
    book = Codebook(len(vectors), vectors.shape[1], decay, restart_threshold, eps)
    book.vectors.copy_(vectors)
    book.counts.copy_(torch.tensor(counts, dtype=torch.float32))
    book.sums.copy_(vectors * book.counts.unsqueeze(1))
    book.started.fill_(True)
    return book


def test_the_gradient_passes_the_quantiser_straight_through_to_the_encoder():
    torch.manual_seed(0)
    head = QuantisingHead(5, (3,), 2, codebook_size=4, commitment=0.0)
    head.quantiser.books[0].started.fill_(True)  # keep its random codebook
    h = torch.randn(6, 5, requires_grad=True)
    code = head(h)
    w = torch.randn_like(code.mean)
    (code.mean * w).sum().backward()
    # d(z_q)/d(z_e) is the identity, so dL/dh = w W with W the projection's weight
    expected = w @ head.project.weight
    torch.testing.assert_close(h.grad, expected)
    assert not torch.equal(code.mean, head.continuous(h).reshape(6, -1))  # it is quantised


def test_the_commitment_loss_pulls_the_encoder_towards_its_codes():
    torch.manual_seed(0)
    head = QuantisingHead(4, (2,), 3, codebook_size=4, commitment=0.25).eval()
    h = torch.randn(5, 4)
    code = head(h)
    z_e = head.continuous(h).detach()
    q = head.quantiser.lookup(code.indices.reshape(-1, 1))
    commitment = (z_e - q).square().sum() / 5
    torch.testing.assert_close(code.parts["commitment"], commitment)
    torch.testing.assert_close(code.penalty, 0.25 * commitment)


def test_an_ema_step_moves_each_code_towards_the_mean_of_its_vectors():
    book = started_book([[0.0, 0.0], [10.0, 10.0]], [2.0, 2.0], decay=0.5)
    z = torch.tensor([[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]])
    indices = book.nearest(z)
    assert indices.tolist() == [0, 0, 1]
    book.update(z, indices)
    # by hand: N = 0.5 * 2 + 0.5 * n, m = 0.5 * m + 0.5 * (sum of assigned), e = m / N
    torch.testing.assert_close(book.counts, torch.tensor([2.0, 1.5]))
    torch.testing.assert_close(book.vectors, torch.tensor([[1.0, 0.5], [14.5 / 1.5] * 2]))
    # with no memory (γ = 0) a code is exactly the mean of the vectors assigned to it
    book = started_book([[0.0, 0.0], [10.0, 10.0]], [2.0, 2.0], decay=0.0)
    book.update(z, indices)
    torch.testing.assert_close(book.vectors, torch.tensor([[2.0, 1.0], [9.0, 9.0]]))


def test_laplace_smoothing_follows_its_formula():
    eps = 0.5
    book = started_book([[0.0], [4.0], [8.0]], [1.0, 1.0, 1.0], decay=0.5, eps=eps)
    z = torch.tensor([[1.0], [1.0], [5.0]])
    book.update(z, book.nearest(z))
    counts = torch.tensor([0.5 + 1.0, 0.5 + 0.5, 0.5])
    sums = torch.tensor([0.0 + 1.0, 2.0 + 2.5, 4.0])
    total = counts.sum()
    smoothed = (counts + eps) / (total + 3 * eps) * total
    torch.testing.assert_close(book.vectors, (sums / smoothed).unsqueeze(1))


def test_a_dead_code_restarts_at_an_encoder_output():
    torch.manual_seed(0)
    book = started_book(
        [[0.0], [1.0], [2.0], [100.0]], [10.0, 10.0, 10.0, 0.0], decay=0.9, restart_threshold=0.1
    )
    z = torch.tensor([[0.1], [0.9], [2.1], [1.9]])
    book.update(z, book.nearest(z))
    assert book.vectors[3].item() in z.squeeze(1).tolist()  # moved from 100 to the data
    # by hand: counts 0.9 · 10 + 0.1 · (1, 1, 2) and 0, total 27.4; 0 < 0.1 · 27.4 / 4,
    # so code 3 is dead and restarts with the mean count 27.4 / 4
    torch.testing.assert_close(book.counts, torch.tensor([9.1, 9.1, 9.2, 27.4 / 4]))
    assert book.alive().all()
    # a living code is left where the moving average puts it
    assert 0.0 < book.vectors[0].item() < 0.1


def test_the_codebook_starts_at_the_first_training_batch():
    torch.manual_seed(0)
    quantiser = VectorQuantiser(8, 2)
    z = torch.randn(32, 2) + 50.0
    quantiser.train()
    quantiser(z)
    book = quantiser.books[0]
    assert bool(book.started)
    assert all(any(torch.equal(v, row) for row in z) for v in book.vectors)


def test_residual_levels_sum_their_codes_and_shrink_the_error():
    torch.manual_seed(0)
    z = torch.randn(256, 3)
    errors = []
    for levels in (1, 2, 3):
        torch.manual_seed(1)
        quantiser = VectorQuantiser(16, 3, levels=levels).train()
        for _ in range(20):
            quantiser(z)
        quantiser.eval()
        quantised, indices, _ = quantiser(z)
        assert indices.shape == (256, levels)
        torch.testing.assert_close(quantiser.lookup(indices), quantised)
        errors.append((z - quantised).square().sum(1).mean().item())
    assert errors[2] < errors[1] < errors[0]


def test_perplexity_and_usage_count_the_assignments():
    quantiser = VectorQuantiser(4, 1).eval()
    book = quantiser.books[0]
    book.vectors.copy_(torch.tensor([[0.0], [1.0], [2.0], [3.0]]))
    z = torch.tensor([[0.0], [0.1], [1.0], [0.9]])  # codes 0, 0, 1, 1: two of four
    _, _, stats = quantiser(z)
    assert stats["codebook_usage"].item() == 0.5
    assert stats["perplexity"].item() == pytest.approx(math.exp(math.log(2)))


def test_one_code_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        VectorQuantiser(1, 4)
