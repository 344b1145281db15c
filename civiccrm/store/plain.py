"""Statements run on the driver's own cursor: compiled once per dialect (and per set of bound names), values
converted by their columns' SQLAlchemy types, driver errors raised as SQLAlchemy's.

SQLAlchemy's Connection builds an execution context and a result for every statement, which on the Open311
API's hot paths (GET one request, a POST's inserts) costs more CPU than the statement itself (about 0.15 ms of
0.2 ms). ``execute`` below runs a statement on an open Connection's driver connection, inside the transaction
the Connection began (the caller still commits or rolls back through it); ``Plain`` is the compiled form.
Only what these paths need: bound values, Python-side scalar column defaults, RETURNING rows and executemany."""

import functools

from sqlalchemy.exc import DBAPIError


class Plain:
    """A statement compiled once for ``dialect``: its SQL, how to lay out the values (positional or named),
    each bound value's processor and each returned column's result processor from its SQLAlchemy type
    (UTCDateTime's aware UTC datetimes among them; result processors are chosen from the driver's own column
    types the first time a row comes back)."""

    def __init__(self, statement, dialect, keys: tuple[str, ...] | None = None):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.sql, self.dialect = str(compiled), dialect
        self.defaults = {name: value for name, value in compiled.params.items()
                         if value is not None and not compiled.binds[name].required}
        for column in getattr(compiled, "insert_prefetch", ()):  # columns left to their Python-side default
            if column.key in (keys or ()):
                continue
            if column.default is None or not column.default.is_scalar:
                raise ValueError(f"{statement}: column {column.key} has a default computed at execution; "
                                 "give its value or run the statement through SQLAlchemy")
            self.defaults[column.key] = column.default.arg
        self.order = None if compiled.positiontup is None else tuple(compiled.positiontup)
        self.bind_processors = {
            name: process for name, bind in compiled.binds.items()
            if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        self.columns = tuple(statement.exported_columns) if getattr(statement, "_returning", True) else ()
        self.names = tuple(column.name for column in self.columns)
        self.processors = None

    def values(self, given: dict):
        merged = {**self.defaults, **given}
        for name, process in self.bind_processors.items():
            if name in merged and merged[name] is not None:
                merged[name] = process(merged[name])
        if self.order is None:
            return merged
        return tuple(merged[name] for name in self.order)

    def row(self, cursor, values) -> dict | None:
        if values is None:
            return None
        if self.processors is None:
            self.processors = tuple(
                column.type.dialect_impl(self.dialect).result_processor(self.dialect, description[1])
                for column, description in zip(self.columns, cursor.description))
        return {name: value if process is None or value is None else process(value)
                for name, value, process in zip(self.names, values, self.processors)}


@functools.cache
def plain(statement, dialect, keys: tuple[str, ...] | None = None) -> Plain:
    return Plain(statement, dialect, keys)


def driver_error(dialect, sql: str, values, exc: Exception) -> DBAPIError:
    """The driver's error as SQLAlchemy's (IntegrityError, OperationalError...), as a Connection raises it."""
    return DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error)


def execute(connection, statement, values: dict | list[dict]) -> list[dict]:
    """Run ``statement`` with ``values`` (a list: executemany, which returns nothing) on ``connection``'s driver
    connection, in its transaction; the rows it returns, as dicts. The caller commits through ``connection``."""
    many = isinstance(values, list)
    keys = tuple(sorted(values[0] if many else values))
    compiled = plain(statement, connection.dialect, keys)
    if not connection.in_transaction():
        connection.begin()  # so that the caller's commit through the Connection commits what runs here
    cursor = connection.connection.cursor()
    try:
        try:
            if many:
                converted = [compiled.values(v) for v in values]
                cursor.executemany(compiled.sql, converted)
                return []
            converted = compiled.values(values)
            cursor.execute(compiled.sql, converted)
            return [compiled.row(cursor, row) for row in cursor.fetchall()] if compiled.columns else []
        except connection.dialect.loaded_dbapi.Error as exc:
            raise driver_error(connection.dialect, compiled.sql, converted, exc) from exc
    finally:
        cursor.close()
