"""Staff page of quality control (/staff/quality/): every voter's figures with the thresholds they cross, and the
agreement within each prototype. The same reads as ``/api/v1/quality/``."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webapp.quality.config import quality_config
from webapp.quality.selectors import prototype_agreement, voters_quality


@require_GET
def voters(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (request.user.is_active and request.user.is_staff):
        raise PermissionDenied("staff only")
    rows = voters_quality()
    flagged_only = request.GET.get("flagged") == "1"
    context = {
        "voters": [q for q in rows if q.flagged] if flagged_only else rows,
        "flagged_count": sum(1 for q in rows if q.flagged),
        "voter_count": len(rows),
        "flagged_only": flagged_only,
        "agreement": prototype_agreement(),
        "config": quality_config(),
    }
    return render(request, "quality/voters.html", context)
