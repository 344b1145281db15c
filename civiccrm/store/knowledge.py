"""Knowledge-base articles and their append-only versions (keyword-only functions)."""

from datetime import datetime

from sqlalchemy import func, insert, or_, select
from sqlalchemy.engine import Connection

from civiccrm.domain.knowledge import Article, ArticleVersion
from civiccrm.errors import NotFound
from civiccrm.store.tables import kb_articles_table as articles
from civiccrm.store.tables import kb_versions_table as versions

_LATEST = (select(versions.c.article_id, func.max(versions.c.number).label("number"))
           .group_by(versions.c.article_id).subquery())


def _version(row) -> ArticleVersion:
    return ArticleVersion(article_id=row.article_id, number=row.number, title=row.title, answer=row.answer,
                          questions=row.questions, timeframe=row.timeframe, public=row.public, author=row.author,
                          created_at=row.created_at)


def _current():
    return (select(articles.c.id, articles.c.service_code, articles.c.department, versions)
            .join(_LATEST, _LATEST.c.article_id == articles.c.id)
            .join(versions, (versions.c.article_id == articles.c.id) & (versions.c.number == _LATEST.c.number)))


def _article(row) -> Article:
    return Article(id=row.id, service_code=row.service_code, department=row.department, current=_version(row))


def add_article(*, connection: Connection, service_code: str | None, department: str | None, now: datetime) -> int:
    return connection.execute(insert(articles).values(service_code=service_code, department=department,
                                                      created_at=now).returning(articles.c.id)).scalar_one()


def add_version(*, connection: Connection, version: ArticleVersion) -> None:
    connection.execute(insert(versions).values(
        article_id=version.article_id, number=version.number, title=version.title, answer=version.answer,
        questions=version.questions, timeframe=version.timeframe, public=version.public, author=version.author,
        created_at=version.created_at))


def get_article(*, connection: Connection, article_id: int) -> Article:
    row = connection.execute(_current().where(articles.c.id == article_id)).first()
    if row is None:
        raise NotFound(f"article {article_id}: not found")
    return _article(row)


def article_for_type(*, connection: Connection, service_code: str, public_only: bool = False) -> Article | None:
    query = _current().where(articles.c.service_code == service_code)
    if public_only:
        query = query.where(versions.c.public.is_(True))
    row = connection.execute(query.order_by(articles.c.id).limit(1)).first()
    return _article(row) if row else None


def search(*, connection: Connection, text: str | None, public_only: bool = False, service_code: str | None = None,
           limit: int = 100) -> list[Article]:
    """Articles whose current title, answer or questions contain ``text`` (all articles without one)."""
    query = _current()
    if text:
        folded = text.lower()
        query = query.where(or_(*(func.lower(column).contains(folded, autoescape=True)
                                  for column in (versions.c.title, versions.c.answer, versions.c.questions))))
    if public_only:
        query = query.where(versions.c.public.is_(True))
    if service_code:
        query = query.where(articles.c.service_code == service_code)
    return [_article(row) for row in connection.execute(query.order_by(versions.c.title).limit(limit))]


def history(*, connection: Connection, article_id: int) -> list[ArticleVersion]:
    return [_version(row) for row in connection.execute(
        select(versions).where(versions.c.article_id == article_id).order_by(versions.c.number.desc()))]
