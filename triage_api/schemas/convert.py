"""Building response models from rows (kept out of the routes so they stay thin)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from classifier.jobs import field_spans
from saqshy.db.models import ClusterLabel, ReviewTask, Vote
from saqshy.settings import Settings
from triage_api.schemas.reposts import CaseMemberPublic, RepostPublic
from triage_api.schemas.tasks import (
    ItemForReview,
    ScorePublic,
    SourceRef,
    TaskDetail,
    TaskForReview,
    TaskPublic,
    VoteWithVoter,
)
from triage_api.schemas.votes import MyDecision, VotePublic
from triage_api.services import queue, reposts, review_reads, users, votes


def task_for_review(session: Session, task: review_reads.ReviewView) -> TaskForReview:
    """What a reviewer is shown of a task: every endpoint that shows one (claim, read, undo, my decision)."""
    item = task.item
    source = None if item.source is None else SourceRef(name=item.source.name, kind=item.source.kind)
    return TaskForReview(
        id=task.task_id,
        category=task.category,
        status=task.status,
        lease_expires_at=task.lease_expires_at,
        item=ItemForReview(id=item.id, source=source, url=item.url, title=item.title, text=item.text,
                           language=item.language, author=item.author, published_at=item.published_at,
                           fetched_at=item.fetched_at),
        score=None if task.score is None else _score_for_review(task.score, item.title, item.text),
        duplicate_count=queue.cluster_duplicates(session, item.cluster_id),
    )


def my_decision(session: Session, task: ReviewTask, vote: Vote | None) -> MyDecision:
    """The task as the queue showed it, the caller's vote and the task's outcome so far."""
    return MyDecision(
        task=task_for_review(session, review_reads.review_of_task(session, task.id)),
        vote=VotePublic.model_validate(vote) if vote is not None else None,
        task_decision=task.decision,
        decided_category=task.decided_category,
        decided_at=task.decided_at,
    )


def _score_for_review(score: review_reads.ScoreView, title: str | None, text: str | None) -> ScorePublic:
    """The score as a reviewer sees it: its explanation's spans refer to the title or the text shown."""
    return ScorePublic(model_version=score.model_version, probabilities=score.probabilities, score=score.score,
                       top_category=score.top_category, explanation=field_spans(title, text, score.explanation))


def task_public(settings: Settings, task: ReviewTask) -> TaskPublic:
    data = {name: getattr(task, name) for name in TaskPublic.model_fields if name != "effective_priority"}
    return TaskPublic(**data, effective_priority=queue.effective_priority(settings, task))


def task_detail(session: Session, settings: Settings, task: ReviewTask) -> TaskDetail:
    rows = votes.votes_of_task(session, task.id)
    acc = users.accuracies(session, [user.id for _, user in rows])
    score = review_reads.latest_score(session, task.item_id)
    vote_list = []
    for vote, user in rows:
        a = acc.get(user.id, users.Accuracy(0, 0))
        vote_list.append(VoteWithVoter(
            id=vote.id, user_id=user.id, display_name=user.display_name, pseudonym=user.pseudonym,
            verdict=vote.verdict, category=vote.category, note=vote.note, weight=vote.weight,
            is_moderator_decision=vote.is_moderator_decision, created_at=vote.created_at,
            voter_accuracy=a.accuracy, voter_gold_votes=a.gold_votes,
        ))
    return TaskDetail(
        **task_public(settings, task).model_dump(),
        item=ItemForReview.model_validate(task.item),
        score_detail=_score_for_review(score, task.item.title, task.item.text) if score is not None else None,
        votes=vote_list,
    )


def repost_public(repost: reposts.Repost) -> RepostPublic:
    label = repost.label
    return RepostPublic(
        id=label.id, item_id=label.item_id, url=repost.url, title=repost.title, language=repost.language,
        source_name=repost.source_name, fetched_at=repost.fetched_at, labelled_at=label.created_at,
        task_id=label.task_id, original_item_id=repost.original_item_id, original_url=repost.original_url,
        decision=label.verdict, category=label.category, decided_at=repost.decided_at, case_id=label.case_id,
        status=label.status, reviewed_by_id=label.reviewed_by_id, reviewed_at=label.reviewed_at,
        reopened_task_id=label.reopened_task_id,
    )


def case_member_public(label: ClusterLabel) -> CaseMemberPublic:
    snapshot = label.item_snapshot or {}
    fetched = snapshot.get("fetched_at")
    return CaseMemberPublic(
        item_id=label.item_id, url=snapshot.get("url"), sha256=snapshot.get("sha256"),
        fetched_at=datetime.fromisoformat(fetched) if isinstance(fetched, str) else None,
        repost=label.is_repost, attached_at=label.created_at,
    )
