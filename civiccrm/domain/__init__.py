"""Pure domain rules and value objects: no database, web or command line here."""
