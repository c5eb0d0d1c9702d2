"""Runs localstripe (the stateful fake Stripe server from PyPI) on a loopback port, with the few parts of the
invoicing API it lacks added the way Stripe documents them. Started as a subprocess by tests/emulators/stripe.py:

    python tests/emulators/localstripe_server.py --port 12111

What localstripe 1.15 lacks and this adds:
- one-off invoices: `POST /v1/invoices` for a customer without a subscription answers 404 there; here it makes a
  draft (`pending_invoice_items_behavior` exclude by default, as Stripe does; `collection_method`,
  `days_until_due` and `auto_advance` accepted);
- `POST /v1/invoiceitems` with `invoice=<draft>` records the item but leaves it off the invoice's lines; here it is
  attached (and refused unless the invoice is a draft);
- `POST /v1/invoices/{id}/finalize` (draft → open);
- `Idempotency-Key`: the first answer to a key is replayed for the same key (with `Idempotent-Replayed: true`),
  and the same key with other parameters is refused with `idempotency_error`, as Stripe does.
It also keeps its store in memory only (localstripe writes /tmp/localstripe.pickle after every write).
"""

from __future__ import annotations

import argparse
import hashlib

from aiohttp import web
from localstripe import resources
from localstripe.errors import UserError
from localstripe.resources import Invoice, InvoiceItem, InvoiceLineItem, extra_apis

resources.Store.dump_to_disk = lambda self: None

_create_invoice = Invoice._api_create.__func__
_create_item = InvoiceItem._api_create.__func__


def _one_off_invoice(
    cls,
    customer=None,
    subscription=None,
    description=None,
    metadata=None,
    collection_method=None,
    days_until_due=None,
    auto_advance=None,
    pending_invoice_items_behavior=None,
    **kwargs,
):
    if subscription is not None or kwargs:
        return _create_invoice(
            cls, customer=customer, subscription=subscription, description=description, metadata=metadata, **kwargs
        )
    held = []
    if pending_invoice_items_behavior != "include":
        held = [ii for ii in InvoiceItem._api_list_all(None, customer=customer, limit=99)._list]
        for ii in held:
            ii.invoice = "in_held"  # hidden from the new invoice's constructor, released below
    try:
        invoice = Invoice(customer=customer, description=description, metadata=metadata)
    finally:
        for ii in held:
            ii.invoice = None
    if collection_method is not None:
        invoice.collection_method = collection_method
    invoice.days_until_due = days_until_due
    invoice.currency = "usd"
    return invoice


def _item_on_invoice(cls, invoice=None, **data):
    if invoice is not None and Invoice._api_retrieve(invoice).status != "draft":
        raise UserError(400, "Invoice items can only be added to a draft invoice")
    item = _create_item(cls, invoice=invoice, **data)
    if invoice is not None:
        target = Invoice._api_retrieve(invoice)
        target.lines._list.append(InvoiceLineItem(item))
        target.currency = item.currency
    return item


def _finalize(id, auto_advance=None, **kwargs):
    invoice = Invoice._api_retrieve(id)
    if invoice.status != "draft":
        raise UserError(400, "This invoice is already finalized")
    invoice._finalize()
    return invoice


Invoice._api_create = classmethod(_one_off_invoice)
InvoiceItem._api_create = classmethod(_item_on_invoice)
extra_apis.append(("POST", "/v1/invoices/{id}/finalize", _finalize))

from localstripe.server import app  # noqa: E402  (builds its routes from extra_apis on import)

_answers: dict[str, tuple[str, int, bytes]] = {}


@web.middleware
async def idempotency(request, handler):
    key = request.headers.get("Idempotency-Key")
    if request.method != "POST" or not key:
        return await handler(request)
    body = await request.read()
    fingerprint = hashlib.sha256(request.path.encode() + b"?" + body).hexdigest()
    if key in _answers:
        seen, status, answer = _answers[key]
        if seen != fingerprint:
            error = {
                "error": {
                    "type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be "
                    "used with the same parameters they were first used with.",
                }
            }
            return web.json_response(error, status=400)
        return web.Response(
            status=status, body=answer, content_type="application/json", headers={"Idempotent-Replayed": "true"}
        )
    response = await handler(request)
    if response.status < 500 and response.body is not None:
        _answers[key] = (fingerprint, response.status, bytes(response.body))
    return response


async def _forget(request):
    resources.store.clear()
    _answers.clear()
    return web.Response()


app.middlewares.insert(0, idempotency)
app.router.add_post("/_test/reset", _forget)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
