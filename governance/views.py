"""Project-level pages."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect


@login_required
def home(request):
    """Everyone starts at the catalog until the dashboards exist."""
    return redirect("catalog:dataset-list")
