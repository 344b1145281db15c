"""The test harness itself: each database backend is really reachable."""

import sqlalchemy


def test_database_url_connects(database_url: str) -> None:
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("select 1")).scalar_one() == 1
            if engine.dialect.name == "postgresql":
                version = int(
                    conn.execute(sqlalchemy.text("show server_version_num")).scalar_one()
                )
                assert version >= 120000, f"PostgreSQL {version} is older than 12"
            else:
                assert engine.dialect.name == "sqlite"
    finally:
        engine.dispose()
