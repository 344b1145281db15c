"""The knowledge base: write an article (each change a new version), find the answer for a service type."""

from civiccrm.domain.knowledge import MAX_TEXT, MAX_TITLE, Article, ArticleVersion, StaleVersion, check_text
from civiccrm.errors import CivicError
from civiccrm.store import knowledge as store
from civiccrm.store import repo


def save(deployment, *, author: str, article_id: int | None = None, service_code: str | None = None,
         department: str | None = None, title: str, answer: str, questions: str = "", timeframe: str = "",
         public: bool = False, based_on: int | None = None) -> Article:
    """Add an article (``article_id`` None) or a new version of one; earlier versions stay as they were.

    A new article for a service type belongs to the type's department unless ``department`` says otherwise.
    ``based_on`` is the version number the editor started from: when someone saved another version in the
    meantime the change is refused (409) rather than silently replacing theirs."""
    profile = deployment.profile
    title = check_text(title, "title", MAX_TITLE, required=True, multiline=False)
    answer = check_text(answer, "answer", MAX_TEXT, required=True)
    questions = check_text(questions, "questions", MAX_TEXT)
    timeframe = check_text(timeframe, "timeframe", MAX_TITLE, multiline=False)
    now = deployment.clock()
    with repo.write_transaction(deployment.engine) as connection:
        if article_id is None:
            service_type = profile.service_type(service_code) if service_code else None
            if department:
                found = profile.taxonomy.find_department(department)
                if found is None:
                    raise CivicError(f"department: no department {department!r} in {profile.name}", field="department")
                department = found.code
            elif service_type is not None:
                department = service_type.department
            article_id = store.add_article(connection=connection, department=department, now=now,
                                           service_code=service_type.code if service_type else None)
            number = 1
        else:
            current = store.get_article(connection=connection, article_id=article_id).current
            if based_on is not None and based_on != current.number:
                raise StaleVersion(f"article {article_id}: {current.author} saved version {current.number} after "
                                   f"the version {based_on} you edited; reload the article and make your change again")
            number = current.number + 1
        store.add_version(connection=connection, version=ArticleVersion(
            article_id=article_id, number=number, title=title, answer=answer, questions=questions,
            timeframe=timeframe, public=public, author=author, created_at=now))
        connection.commit()
    return get(deployment, article_id)


def get(deployment, article_id: int) -> Article:
    """The article with its latest version (NotFound when there is none)."""
    with deployment.engine.connect() as connection:
        return store.get_article(connection=connection, article_id=article_id)


def history(deployment, article_id: int) -> list[ArticleVersion]:
    with deployment.engine.connect() as connection:
        return store.history(connection=connection, article_id=article_id)


def for_type(deployment, service_code: str, *, public_only: bool = False) -> Article | None:
    """The article written for ``service_code`` (the first one, when there are several)."""
    with deployment.engine.connect() as connection:
        return store.article_for_type(connection=connection, service_code=service_code, public_only=public_only)


def search(deployment, text: str | None = None, *, public_only: bool = False,
           service_code: str | None = None) -> list[Article]:
    """Articles whose current version contains ``text`` (all without it), by title; only public ones for residents."""
    text = check_text(text, "q", MAX_TITLE, multiline=False)
    with deployment.engine.connect() as connection:
        return store.search(connection=connection, text=text or None, public_only=public_only,
                            service_code=service_code)
