"""Survey use cases, one module each: ``instruments``, ``plans``, ``draws``, ``invitations``
(sent on close or for a draw), ``answers`` (by token), ``imports`` and ``action_plans``."""
