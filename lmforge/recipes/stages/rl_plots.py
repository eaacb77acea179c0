"""The RL stage's report plot: mean reward per step (and its running mean) with the KL to the
reference model on a second axis."""

from __future__ import annotations

from pathlib import Path

from lmforge.report import plt, read_metrics, save_figure


def _running_mean(values: list[float], window: int) -> list[float]:
    return [sum(values[max(0, i - window + 1):i + 1]) / (i + 1 - max(0, i - window + 1)) for i in range(len(values))]


def plot_reward_curve(metrics_file: str | Path, out_png: Path, title: str, window: int = 5) -> Path | None:
    """reward.png from an RL run's metrics.jsonl (rows with `reward`, optionally `kl`); None without rewards."""
    rows = [r for r in read_metrics(metrics_file) if "reward" in r and "step" in r]
    if not rows:
        return None
    steps, rewards = [r["step"] for r in rows], [r["reward"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, rewards, alpha=0.35, label="mean reward of the step's rollouts")
    ax.plot(steps, _running_mean(rewards, window), label=f"running mean ({window} steps)")
    ax.set_xlabel("RL step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("reward (the rules' weighted sum)")
    ax.set_title(title)
    kl = [(r["step"], r["kl"]) for r in rows if "kl" in r]
    if kl:
        ax2 = ax.twinx()
        ax2.plot(*zip(*kl), color="tab:red", linestyle=":", label="KL to the start model (per token)")
        ax2.set_ylabel("KL (nats/token)")
        ax2.legend(loc="lower right", fontsize=8)
    ax.legend(loc="upper left", fontsize=8)
    return save_figure(fig, out_png)
