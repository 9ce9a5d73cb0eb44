"""Governance pages: locality rules, grants, training runs, decisions, check, what-if, and the
decision log (ledger entries, checkpoints, recorded decisions) with the evidence export, and
the glossary."""

from django.urls import path

from governance.checks import views as check_views
from governance.glossary import views as glossary_views
from governance.grants import views as grant_views
from governance.ledger import views as ledger_views
from governance.ml import views as model_views
from governance.notifications import views as notification_views
from governance.policy import views as policy_views
from governance.reviews import views as review_views

app_name = "governance"

urlpatterns = [
    path("notifications/", notification_views.notification_list, name="notification-list"),
    path("notifications/read/", notification_views.notifications_read, name="notifications-read"),
    path(
        "notifications/preferences/",
        notification_views.notification_preferences,
        name="notification-preferences",
    ),
    path("rules/", policy_views.rule_list, name="rule-list"),
    path("rules/new/", policy_views.rule_create, name="rule-create"),
    path("rules/<int:pk>/", policy_views.rule_detail, name="rule-detail"),
    path("rules/<int:pk>/edit/", policy_views.rule_edit, name="rule-edit"),
    path("rules/<int:pk>/delete/", policy_views.rule_delete, name="rule-delete"),
    path("grants/", grant_views.grant_list, name="grant-list"),
    path("grants/new/", grant_views.grant_create, name="grant-create"),
    path("grants/<int:pk>/", grant_views.grant_detail, name="grant-detail"),
    path("grants/<int:pk>/revoke/", grant_views.grant_revoke, name="grant-revoke"),
    path("runs/", check_views.run_list, name="run-list"),
    path("runs/<int:pk>/", check_views.run_detail, name="run-detail"),
    path("models/", model_views.model_list, name="model-list"),
    path("models/new/", model_views.model_create, name="model-create"),
    path("models/<int:pk>/", model_views.model_detail, name="model-detail"),
    path("models/<int:pk>/deploy/", model_views.model_deploy, name="model-deploy"),
    path(
        "model-deployments/<int:pk>/retire/",
        model_views.deployment_retire,
        name="deployment-retire",
    ),
    path("decisions/", check_views.decision_list, name="decision-list"),
    path("decisions/<int:pk>/", check_views.decision_detail, name="decision-detail"),
    path("check/", check_views.check, name="check"),
    path("what-if/", policy_views.what_if, name="what-if"),
    path("legal-coverage/", policy_views.legal_coverage_page, name="legal-coverage"),
    path("glossary/", glossary_views.glossary_list, name="glossary-list"),
    path("glossary/new/", glossary_views.glossary_create, name="glossary-create"),
    path("glossary/<slug:slug>/", glossary_views.glossary_term, name="glossary-term"),
    path("glossary/<slug:slug>/edit/", glossary_views.glossary_edit, name="glossary-edit"),
    path("glossary/<slug:slug>/submit/", glossary_views.glossary_submit, name="glossary-submit"),
    path("glossary/<slug:slug>/approve/", glossary_views.glossary_approve, name="glossary-approve"),
    path("glossary/<slug:slug>/reject/", glossary_views.glossary_reject, name="glossary-reject"),
    path(
        "glossary/<slug:slug>/withdraw/", glossary_views.glossary_withdraw, name="glossary-withdraw"
    ),
    path(
        "glossary/<slug:slug>/deprecate/",
        glossary_views.glossary_deprecate,
        name="glossary-deprecate",
    ),
    path("ledger/", ledger_views.ledger_list, name="ledger-list"),
    path("ledger/<int:sequence>/", ledger_views.ledger_entry, name="ledger-entry"),
    path("ledger/checkpoints/", ledger_views.checkpoint_list, name="ledger-checkpoints"),
    path("ledger/checkpoints/sign/", ledger_views.checkpoint_sign, name="ledger-checkpoint-sign"),
    path("ledger/checkpoints.json", ledger_views.checkpoints_json, name="ledger-checkpoints-json"),
    path("ledger/tree-head.json", ledger_views.tree_head_json, name="ledger-tree-head-json"),
    path("ledger/recorded-decisions/", ledger_views.record_list, name="ledger-record-list"),
    path(
        "ledger/recorded-decisions/new/",
        ledger_views.record_create,
        name="ledger-record-create",
    ),
    path(
        "ledger/recorded-decisions/<int:pk>/",
        ledger_views.record_detail,
        name="ledger-record-detail",
    ),
    path(
        "ledger/recorded-decisions/<int:pk>/edit/",
        ledger_views.record_edit,
        name="ledger-record-edit",
    ),
    path("evidence/", ledger_views.evidence_page, name="evidence"),
    path("access-reviews/", review_views.review_list, name="access-review-list"),
    path("access-reviews/open/", review_views.review_open_page, name="access-review-open"),
    path("access-reviews/<int:pk>/", review_views.review_detail, name="access-review"),
    path(
        "access-reviews/items/<int:pk>/decide/",
        review_views.item_decide,
        name="access-review-decide",
    ),
]
