"""The workflow pages' navigation items (see governance.context_processors)."""



def _reads_subject_requests(user) -> bool:
    return user.has_perm("workflows.view_subjectrequest")


def _works_subject_tasks(user) -> bool:
    return user.has_perm("workflows.view_subjecttask")


NAV: tuple = (
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
)
