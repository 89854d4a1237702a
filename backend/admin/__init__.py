"""The admin console: one view module per area; ``routes`` is mounted at /admin.

Reusable pieces for other admin pages: ``backend.admin.security`` (``require_role``, role
groups, sessions, CSRF), ``backend.admin.scope`` (SQL filters per role and scope) and
``backend.admin.pages`` (``render`` with the base layout, ``paginate``, ``local_time``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from backend.admin import (
    absences,
    activities,
    agencies,
    apel,
    api,
    audit,
    auth,
    discipline,
    displays,
    employees,
    fields,  # noqa: F401  (registers the {name:id} path convertor)
    fraud,
    holidays,
    home,
    integration,
    ledger,
    monitor,
    offices,
    organisation,
    phones,
    presence,
    recaps,
    requests,
    schedules,
    tokens,
    tpp,
    units,
    users,
    webhooks_page,
)

GET, POST, BOTH = ["GET"], ["POST"], ["GET", "POST"]
STATIC_DIR = Path(__file__).parent / "static"

routes: list[BaseRoute] = [
    Route("/", home.overview, methods=GET),
    Route("/login", auth.login, methods=BOTH),
    Route("/logout", auth.logout, methods=POST),
    Route("/account", auth.account, methods=GET),
    Route("/account/password", auth.change_password, methods=POST),
    Route("/account/language", auth.change_language, methods=POST),
    Route("/agencies", agencies.list_page, methods=BOTH),
    Route("/agencies/{agency_id:id}", agencies.edit_page, methods=BOTH),
    Route("/units", units.list_page, methods=BOTH),
    Route("/units/{unit_id:id}", units.edit_page, methods=BOTH),
    Route("/units/{unit_id:id}/org", organisation.chart_page, methods=GET),
    Route("/offices", offices.list_page, methods=BOTH),
    Route("/offices/{office_id:id}", offices.edit_page, methods=BOTH),
    Route("/employees", employees.list_page, methods=BOTH),
    Route("/employees/export.csv", employees.export_csv, methods=GET),
    Route("/employees/import", employees.import_page, methods=BOTH),
    Route("/employees/{employee_id:id}", employees.detail_page, methods=BOTH),
    Route("/employees/{employee_id:id}/active", employees.set_active_page, methods=POST),
    Route("/employees/{employee_id:id}/enrolment-code", phones.code_page, methods=POST),
    Route(
        "/employees/{employee_id:id}/devices/{device_id:str}/revoke",
        phones.revoke_page,
        methods=POST,
    ),
    Route("/displays", displays.list_page, methods=BOTH),
    Route("/displays/status.json", displays.status_json, methods=GET),
    Route("/displays/{display_id:id}", displays.detail_page, methods=BOTH),
    Route("/displays/{display_id:id}/pairing-code", displays.pairing_code_page, methods=POST),
    Route("/displays/{display_id:id}/revoke", displays.revoke_page, methods=POST),
    Route("/users", users.list_page, methods=BOTH),
    Route("/users/{admin_id:id}", users.edit_page, methods=BOTH),
    Route("/tokens", tokens.list_page, methods=BOTH),
    Route("/tokens/{token_id:id}/revoke", tokens.revoke_page, methods=POST),
    Route("/webhooks", webhooks_page.list_page, methods=BOTH),
    Route("/webhooks/{webhook_id:id}/delete", webhooks_page.delete_page, methods=POST),
    Route("/webhooks/{webhook_id:id}/resume", webhooks_page.resume_page, methods=POST),
    Route("/audit", audit.log_page, methods=GET),
    Route("/audit/export.csv", audit.export_csv, methods=GET),
    Route("/ledger", ledger.heads_page, methods=GET),
    Route("/ledger/heads.csv", ledger.heads_csv, methods=GET),
    Route("/ledger/heads.json", ledger.heads_json, methods=GET),
    # presence review (issue 6)
    Route("/monitor", monitor.page, methods=GET),
    Route("/monitor/today.json", monitor.summary_json, methods=GET),
    Route("/monitor/stream", monitor.stream, methods=GET),
    Route("/recaps/monthly", recaps.monthly_page, methods=GET),
    # E-Activity (issue 13)
    Route("/activities", activities.overview_page, methods=GET),
    Route("/activities/approve", activities.bulk_approve, methods=POST),
    Route("/activities.csv", activities.export_csv, methods=GET),
    Route("/activities.xlsx", activities.export_xlsx, methods=GET),
    Route("/activities/targets", activities.targets_page, methods=BOTH),
    Route("/activities/employees/{employee_id:id}", activities.employee_page, methods=GET),
    Route("/recaps/monthly.csv", recaps.monthly_csv, methods=GET),
    Route("/recaps/monthly.xlsx", recaps.monthly_xlsx, methods=GET),
    Route("/recaps/daily", recaps.daily_page, methods=GET),
    Route("/recaps/daily.csv", recaps.daily_csv, methods=GET),
    Route("/recaps/daily.xlsx", recaps.daily_xlsx, methods=GET),
    Route("/presence", presence.log_page, methods=GET),
    Route("/presence.csv", presence.log_csv, methods=GET),
    Route("/presence.xlsx", presence.log_xlsx, methods=GET),
    Route("/presence/employees/{employee_id:id}", presence.employee_month, methods=GET),
    Route("/presence/employees/{employee_id:id}/corrections", presence.correct, methods=POST),
    Route("/review", presence.review_page, methods=GET),
    # fraud patterns (issue 15)
    Route("/fraud", fraud.list_page, methods=GET),
    Route("/fraud/{cluster_id:id}", fraud.detail_page, methods=GET),
    Route("/fraud/{cluster_id:id}", fraud.decide, methods=POST),
    Route("/review/{checkin_id:id}", presence.decide, methods=POST),
    Route("/absences", absences.list_page, methods=GET),
    Route("/absences", absences.add, methods=POST),
    Route("/absences/{absence_id:id}/cancel", absences.cancel, methods=POST),
    Route("/requests", requests.list_page, methods=GET),
    Route("/requests/decisions", requests.decide_page, methods=POST),
    Route("/holidays", holidays.list_page, methods=GET),
    Route("/holidays", holidays.change, methods=POST),
    Route("/schedules", schedules.page, methods=GET),
    Route("/schedules/rules", schedules.add_rule, methods=POST),
    Route("/schedules/rules/{rule_id:id}/remove", schedules.remove_rule, methods=POST),
    Route("/schedules/shifts", schedules.add_shift, methods=POST),
    Route("/schedules/roster", schedules.set_roster, methods=POST),
    Route("/apel", apel.list_page, methods=GET),
    Route("/apel", apel.add, methods=POST),
    Route("/apel/{apel_id:id}", apel.attendance_page, methods=GET),
    Route("/apel/{apel_id:id}/delete", apel.delete_page, methods=POST),
    Route("/apel/{apel_id:id}/attendance.csv", apel.attendance_csv, methods=GET),
    Route("/apel/{apel_id:id}/attendance.xlsx", apel.attendance_xlsx, methods=GET),
    Route("/tpp", tpp.rules_page, methods=GET),
    Route("/tpp", tpp.rules_page, methods=POST),
    # organisation and discipline (issue 12)
    Route("/delegations", organisation.delegations_page, methods=BOTH),
    Route("/delegations/{delegation_id:id}/cancel", organisation.cancel_page, methods=POST),
    Route("/discipline", discipline.page, methods=GET),
    Route("/discipline.csv", discipline.page_csv, methods=GET),
    Route("/discipline.xlsx", discipline.page_xlsx, methods=GET),
    Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="admin-static"),
]

# JSON admin API for other government systems, mounted under /api/v1/admin.
api_routes: list[BaseRoute] = [*api.routes, *integration.routes()]
