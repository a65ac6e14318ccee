"""The validation report: a typed, JSON-serialisable account of what training will see."""

from __future__ import annotations

from pydantic import BaseModel, Field, computed_field

from lorapipe.datasets.problems import Problem


class HistogramBin(BaseModel):
    lo: int = Field(description="Inclusive lower bound, tokens.")
    hi: int = Field(description="Exclusive upper bound, tokens.")
    count: int


class PaddingStats(BaseModel):
    """Share of real (non-pad) tokens in the batches of each batching strategy, 0–1."""

    batch_size: int
    max_length: int
    naive: float = Field(description="Batches in file order, each padded to its longest example.")
    length_grouped: float = Field(description="Examples sorted by length before batching.")
    packed: float = Field(description="Examples packed first-fit-decreasing into rows of max_length.")


class TokenStats(BaseModel):
    """Counted with the base model's own tokenizer and chat template, after truncation."""

    tokenizer: str
    max_length: int
    total: int = Field(description="Tokens training will see (after history truncation).")
    trained: int = Field(description="Tokens that carry a label (assistant targets + end-of-turn).")
    trained_share: float
    total_before_truncation: int
    percentiles: dict[str, int] = Field(description="Example length in tokens before truncation.")
    mean: float
    histogram: list[HistogramBin]
    over_max_length: int = Field(description="Examples longer than max_length before truncation.")
    truncated: int = Field(description="Examples that lose history turns (oldest first) to fit.")
    dropped_messages: int
    unfit: int = Field(description="Examples whose target alone exceeds max_length: skipped in training.")
    padding: PaddingStats


class RenderedSegment(BaseModel):
    text: str
    trained: bool


class RenderedExample(BaseModel):
    """One example as the model sees it, cut into trained and untrained spans."""

    id: str
    tokens: int
    trained_tokens: int
    segments: list[RenderedSegment]


class DatasetReport(BaseModel):
    source: str
    format: str | None
    container: str | None
    bytes: int
    sha256: str | None = None
    complete: bool = Field(description="False when reading stopped at a broken structure.")
    records: int
    conversations: int
    examples: int = Field(description="Examples training can use.")
    messages: int
    roles: dict[str, int]
    characters: int
    trained_characters: int = Field(default=0, description="Characters of the trained messages.")
    errors: int
    warnings: int
    problem_counts: dict[str, int]
    problems: list[Problem] = Field(description="The first problems in file order, in full.")
    metadata: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="Distributions of scaffolding metadata (persona, arc, topic...)."
    )
    tokens: TokenStats | None = None
    samples: list[RenderedExample] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """True when the dataset can be trained on: no errors and at least one example."""
        return self.errors == 0 and self.examples > 0
