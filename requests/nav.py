"""The workflow pages' navigation items (see governance.context_processors)."""

NAV: tuple = ()
