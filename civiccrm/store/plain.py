"""Statements run on the driver's own cursor: compiled once per dialect (and per set of bound names), values
converted by their columns' SQLAlchemy types, driver errors raised as SQLAlchemy's.

SQLAlchemy's Connection builds an execution context and a result for every statement, which on the Open311
API's hot paths (GET one request, GET a list of them, a POST's inserts) costs more CPU than the statement itself
(about 0.15 ms of 0.2 ms). ``execute`` below runs a statement on an open Connection's driver connection, inside
the transaction the Connection began (the caller still commits or rolls back through it); ``read`` runs one on a
pooled driver connection of an Engine; both go through ``run``. ``Plain`` is the compiled form. Only what these
paths need: bound values, expanding IN lists, Python-side scalar column defaults, RETURNING rows and executemany."""

import functools

from sqlalchemy.exc import DBAPIError

#: Layouts of one statement's expanding IN lists kept, at most (one per combination of list lengths).
MAX_LAYOUTS = 256


class Plain:
    """A statement compiled once for ``dialect``: its SQL, how to lay out the values (positional or named),
    each bound value's processor and each returned column's result processor from its SQLAlchemy type
    (UTCDateTime's aware UTC datetimes among them; result processors are chosen from the driver's own column
    types the first time a row comes back). An expanding ``IN`` list gets one placeholder per item: the SQL and
    the layout for each combination of list lengths are made once, from the one compiled form."""

    def __init__(self, statement, dialect, keys: tuple[str, ...] | None = None):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.compiled, self.sql, self.dialect = compiled, str(compiled), dialect
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
        self.expanding = tuple(name for name, bind in compiled.binds.items() if bind.expanding)
        self.layouts: dict[tuple[int, ...], tuple[str, tuple | None, dict]] = {}
        self.columns = tuple(statement.exported_columns) if getattr(statement, "_returning", True) else ()
        self.names = tuple(column.name for column in self.columns)
        self.processors = None
        """(name, result processor) of the returned columns that have one (UTCDateTime's on SQLite)."""

    def layout(self, lengths: tuple[int, ...]) -> tuple[str, tuple | None, dict]:
        """The SQL, positional order and names of the items of each expanding list, for lists of ``lengths``."""
        found = self.layouts.get(lengths)
        if found is None:
            if any(n < 1 for n in lengths):
                raise ValueError(f"{', '.join(self.expanding)}: an IN list needs at least one value")
            sample = {name: None for name in self.compiled.binds}
            sample.update({name: [None] * n for name, n in zip(self.expanding, lengths)})
            state = self.compiled.construct_expanded_state(sample)
            found = (state.statement, None if state.positiontup is None else tuple(state.positiontup),
                     {name: tuple(state.parameter_expansion[name]) for name in self.expanding})
            if len(self.layouts) >= MAX_LAYOUTS:
                self.layouts.clear()
            self.layouts[lengths] = found
        return found

    def bind(self, given: dict) -> tuple[str, tuple | dict]:
        """The SQL to run for ``given`` and its values laid out for the driver, each converted by its type."""
        merged = {**self.defaults, **given}
        sql, order = self.sql, self.order
        if self.expanding:
            sql, order, expansion = self.layout(tuple(len(merged[name]) for name in self.expanding))
            for name in self.expanding:
                merged.update(zip(expansion[name], merged.pop(name)))
                if (process := self.bind_processors.get(name)) is not None:
                    for key in expansion[name]:
                        if merged[key] is not None:
                            merged[key] = process(merged[key])
        for name, process in self.bind_processors.items():
            if name in merged and merged[name] is not None:
                merged[name] = process(merged[name])
        if order is None:
            return sql, merged
        return sql, tuple(merged[name] for name in order)

    def row(self, cursor, values) -> dict | None:
        if values is None:
            return None
        if self.processors is None:
            self.processors = tuple(
                (name, process) for name, column, description in zip(self.names, self.columns, cursor.description)
                if (process := column.type.dialect_impl(self.dialect).result_processor(self.dialect, description[1]))
                is not None)
        found = dict(zip(self.names, values))  # the columns without a processor (most of them) as they came
        for name, process in self.processors:
            if (value := found[name]) is not None:
                found[name] = process(value)
        return found


@functools.cache
def plain(statement, dialect, keys: tuple[str, ...] | None = None) -> Plain:
    return Plain(statement, dialect, keys)


def driver_error(dialect, sql: str, values, exc: Exception) -> DBAPIError:
    """The driver's error as SQLAlchemy's (IntegrityError, OperationalError...), as a Connection raises it."""
    return DBAPIError.instance(sql, values, exc, dialect.loaded_dbapi.Error)


def run(driver, dialect, compiled: Plain, values: dict | list[dict], *, first: bool = False):
    """Run ``compiled`` with ``values`` (a list: executemany, which returns nothing) on a cursor of the driver
    connection ``driver``: the rows it returns as dicts (``first``: the first row or None); a driver error is
    raised as SQLAlchemy's."""
    many = isinstance(values, list)
    if many:
        sql, converted = compiled.sql, [compiled.bind(v)[1] for v in values]
    else:
        sql, converted = compiled.bind(values)
    cursor = driver.cursor()
    try:
        try:
            if many:
                cursor.executemany(sql, converted)
                return []
            cursor.execute(sql, converted)
            if first:
                return compiled.row(cursor, cursor.fetchone())
            return [compiled.row(cursor, row) for row in cursor.fetchall()] if compiled.columns else []
        except dialect.loaded_dbapi.Error as exc:
            raise driver_error(dialect, sql, converted, exc) from exc
    finally:
        cursor.close()


def execute(connection, statement, values: dict | list[dict]) -> list[dict]:
    """Run ``statement`` with ``values`` (a list: executemany, which returns nothing) on ``connection``'s driver
    connection, in its transaction; the rows it returns, as dicts. The caller commits through ``connection``."""
    keys = tuple(sorted(values[0] if isinstance(values, list) else values))
    compiled = plain(statement, connection.dialect, keys)
    if not connection.in_transaction():
        connection.begin()  # so that the caller's commit through the Connection commits what runs here
    return run(connection.connection, connection.dialect, compiled, values)


def read(engine, statement, values: dict, *, first: bool = False):
    """``statement`` (a SELECT) with ``values`` on a pooled driver connection of ``engine``, without the Connection
    and result layers; the read is committed and the connection goes back to the pool. A driver error, connecting
    included, is raised as SQLAlchemy's (OperationalError: the 503 path)."""
    compiled = plain(statement, engine.dialect)
    dialect = engine.dialect
    try:
        driver = engine.raw_connection()
    except dialect.loaded_dbapi.Error as exc:
        raise driver_error(dialect, compiled.sql, values, exc) from exc
    try:
        rows = run(driver, dialect, compiled, values, first=first)
        driver.commit()  # not the pool's ROLLBACK, at which psycopg drops its prepared statements (db.read_connection)
        return rows
    finally:
        driver.close()
