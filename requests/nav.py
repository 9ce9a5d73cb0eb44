"""The workflow pages' navigation items (see governance.context_processors)."""

from governance.roles import Role, has_role


def _asks_or_reads_exceptions(user) -> bool:
    return user.has_perm("workflows.add_transferexception") or user.has_perm(
        "workflows.view_transferexception"
    )


def _reviews_exceptions(user) -> bool:
    return has_role(user, Role.PRIVACY_OFFICER)


def _reads_register(user) -> bool:
    return has_role(user, Role.PRIVACY_OFFICER, Role.AUDITOR, Role.EXECUTIVE)


def _reads_subject_requests(user) -> bool:
    return user.has_perm("workflows.view_subjectrequest")


def _works_subject_tasks(user) -> bool:
    return user.has_perm("workflows.view_subjecttask")


def _reads_retention(user) -> bool:
    return user.has_perm("workflows.view_retentionrun")


NAV: tuple = (
    (
        "Transfer exceptions",
        "workflows:exception-list",
        _asks_or_reads_exceptions,
        (
            "workflows:exception-create",
            "workflows:exception-detail",
            "workflows:exception-edit",
            "workflows:exception-step",
            "workflows:exception-comment",
        ),
        "workflows",
    ),
    ("Exceptions to review", "workflows:exception-queue", _reviews_exceptions, (), "workflows"),
    ("Transfer register", "workflows:transfer-register", _reads_register, (), "workflows"),
    (
        "Subject requests",
        "workflows:subject-list",
        _reads_subject_requests,
        ("workflows:subject-detail", "workflows:subject-create"),
        "workflows",
    ),
    (
        "My subject tasks",
        "workflows:subject-task-list",
        _works_subject_tasks,
        ("workflows:subject-task-",),
        "workflows",
    ),
    (
        "Retention",
        "workflows:retention",
        _reads_retention,
        ("workflows:retention-",),
        "workflows",
    ),
)
