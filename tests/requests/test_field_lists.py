"""What a requester writes is listed once, in the services; the API and the pages take their
fields from there, and the register's CSV has one writer."""

import datetime as dt
import io

from requests.subjects.forms import IntakeForm, StaffIntakeForm
from requests.subjects.intake import INTAKE_FIELDS, STAFF_INTAKE_FIELDS
from requests.subjects.serializers import IntakeSerializer, StaffIntakeSerializer
from requests.transfers.api import TransferExceptionSerializer
from requests.transfers.forms import ExceptionForm
from requests.transfers.register import register_csv_write
from requests.transfers.services import PLACE_FIELDS, TERM_FIELDS


def test_the_exception_api_and_form_write_the_services_fields(db):
    serializer = TransferExceptionSerializer()
    written = {name for name, field in serializer.fields.items() if not field.read_only} - {
        "submit"
    }
    assert written == {*PLACE_FIELDS, *TERM_FIELDS}
    assert set(ExceptionForm().fields) == {*PLACE_FIELDS, *TERM_FIELDS}


def test_the_intake_api_and_forms_give_the_services_fields(db):
    assert set(IntakeSerializer().fields) == set(INTAKE_FIELDS)
    assert set(StaffIntakeSerializer().fields) == set(STAFF_INTAKE_FIELDS)
    # The form asks for each identifier on its own line and gathers them into `identifiers`.
    assert set(INTAKE_FIELDS) - {"identifiers"} <= set(IntakeForm().fields)
    assert set(STAFF_INTAKE_FIELDS) - {"identifiers"} <= set(StaffIntakeForm().fields)


def test_the_register_writer_neutralises_formulas_and_keeps_its_columns():
    out = io.StringIO()
    at = dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC)
    register_csv_write(
        out,
        [{"grant": 1, "purpose": "=HYPERLINK(1)", "datasets": ["a", "b"], "valid_from": at}],
        columns=["grant", "purpose", "datasets", "valid_from", "status"],
    )
    assert out.getvalue().splitlines() == [
        "grant,purpose,datasets,valid_from,status",
        "1,'=HYPERLINK(1),a b,2026-01-02T03:04:00+00:00,",
    ]
