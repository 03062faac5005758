"""One entry per root field of the schema: how to call it with another account's ids.

`{order}`, `{line}`, `{shipment}`, `{channel}`, `{batch}` are replaced by global ids: account B's
in the attack, ids that exist nowhere in the control, and both answers must be the same.
Entries with `scoped=False` take no id (lists, settings, connecting something new): their answer
must simply not mention anything of account B's.

Adding an operation to the schema? Add one line here: `"fieldName": Op("query-or-mutation text")`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    text: str
    scoped: bool = True  # carries an id of another account: must answer exactly like a missing id


PAYLOAD = "userErrors { field message code }"
ORDER_FIELDS = "id number status lines { id title } shipments { id } channel { id name }"

QUERIES: dict[str, Op] = {
    "orders": Op("{ orders(first: 50) { edges { node { " + ORDER_FIELDS + " } } } }", scoped=False),
    "ordersByChannel": Op('{ orders(first: 50, channelId: "{channel}") { edges { node { id number } } } }'),
    "draftRules": Op("{ draftRules { originCountry customs } }", scoped=False),
    "order": Op('{ order(id: "{order}") { ' + ORDER_FIELDS + " } }"),
    "channels": Op("{ channels { id name } }", scoped=False),
    "channel": Op('{ channel(id: "{channel}") { id name webhookUrl } }'),
    "syncRuns": Op('{ syncRuns(channelId: "{channel}") { id status } }'),
    "allSyncRuns": Op("{ syncRuns { id status } }", scoped=False),
    "carrierAccounts": Op("{ carrierAccounts { id name } }", scoped=False),
    "rates": Op(
        '{ rates(orderId: "{order}", lines: [{lineId: "{line}", quantity: 1}]) { rates { id } ' + PAYLOAD + " } }"
    ),
    "labelBatch": Op('{ labelBatch(id: "{batch}") { id status items { orderId } } }'),
    "viewer": Op("{ viewer { accountId accountName } }", scoped=False),
    "shipments": Op('{ shipments(orderId: "{order}") { id status } }'),
    "allShipments": Op("{ shipments { id status } }", scoped=False),
    "notificationSettings": Op(
        "{ notificationSettings { channels { channelId channelName } templates { subject } } }", scoped=False
    ),
    "apiKeys": Op("{ apiKeys { id name prefix createdBy } }", scoped=False),
    "users": Op("{ users { id email } }", scoped=False),
    "auditLog": Op("{ auditLog(first: 250) { edges { node { actor action objectIds detail } } } }", scoped=False),
    "auditLogOfObject": Op('{ auditLog(filter: {objectId: "{order}"}) { edges { node { action } } } }'),
    "products": Op("{ products(first: 250) { edges { node { sku title } } hasNextPage } }", scoped=False),
    "orderPush": Op('{ order(id: "{order}") { id pushStatus pushError pushedOrderRef pushFlag } }'),
}

MUTATIONS: dict[str, Op] = {
    "updateNotificationSettings": Op(
        'mutation { updateNotificationSettings(input: {channels: [{channelId: "{channel}", notifyCustomers: false}]})'
        " { notificationSettings { enabled } " + PAYLOAD + " } }"
    ),
    "updateNotificationTemplate": Op(
        'mutation { updateNotificationTemplate(input: {kind: SHIPPED, subject: "A {{ order_number }}", body: "A"})'
        " { template { subject } " + PAYLOAD + " } }",
        scoped=False,
    ),
    "resetNotificationTemplate": Op(
        "mutation { resetNotificationTemplate(input: {kind: SHIPPED}) { template { subject } " + PAYLOAD + " } }",
        scoped=False,
    ),
    "updateDraft": Op(
        'mutation { updateDraft(input: {orderId: "{order}", invoiceNumber: "INV-A"}) { order { id } ' + PAYLOAD + " } }"
    ),
    "updateOrder": Op(
        'mutation { updateOrder(input: {orderId: "{order}", invoiceNumber: "INV-A"}) { order { id } ' + PAYLOAD + " } }"
    ),
    "pushOrder": Op(
        'mutation { pushOrder(input: {orderIds: ["{order}"]}) { pushes { orderId status } ' + PAYLOAD + " } }"
    ),
    "updateForwarding": Op(
        'mutation { updateForwarding(input: {channelId: "{channel}", mode: OFF}) { channel { id forwarding { mode } } '
        + PAYLOAD
        + " } }"
    ),
    "updateForwardingTarget": Op(
        'mutation { updateForwarding(input: {channelId: "{channel}", toChannelId: "{channel}", mode: ALWAYS}) '
        "{ channel { id } " + PAYLOAD + " } }"
    ),
    "upsertProducts": Op(
        'mutation { upsertProducts(input: {products: [{sku: "SEC-1", title: "x"}]}) { products { sku } '
        + PAYLOAD
        + " } }",
        scoped=False,
    ),
    "deleteProducts": Op(
        'mutation { deleteProducts(input: {skus: ["SEC-1"]}) { deletedCount ' + PAYLOAD + " } }", scoped=False
    ),
    "archiveOrder": Op('mutation { archiveOrder(input: {orderId: "{order}"}) { order { id } ' + PAYLOAD + " } }"),
    "unarchiveOrder": Op('mutation { unarchiveOrder(input: {orderId: "{order}"}) { order { id } ' + PAYLOAD + " } }"),
    "updateDraftRules": Op(
        "mutation { updateDraftRules(input: {customs: false}) { draftRules { customs } " + PAYLOAD + " } }",
        scoped=False,
    ),
    "buyLabel": Op(
        'mutation { buyLabel(input: {orderId: "{order}", idempotencyKey: "iso-1"}) { shipment { id } order { id } '
        + PAYLOAD
        + " } }"
    ),
    "buyLabelOfLine": Op(
        'mutation { buyLabel(input: {orderId: "{order}", idempotencyKey: "iso-2", lines: [{lineId: "{line}", '
        "quantity: 1}]}) { shipment { id } " + PAYLOAD + " } }"
    ),
    "skipShipping": Op('mutation { skipShipping(input: {orderId: "{order}"}) { order { id } ' + PAYLOAD + " } }"),
    "buyLabels": Op(
        'mutation { buyLabels(input: {orders: [{orderId: "{order}"}], idempotencyKey: "iso-3"}) { batch { id } '
        + PAYLOAD
        + " } }"
    ),
    "reprintLabel": Op(
        'mutation { reprintLabel(input: {shipmentId: "{shipment}"}) { url contentBase64 ' + PAYLOAD + " } }"
    ),
    "cancelLabel": Op(
        'mutation { cancelLabel(input: {shipmentId: "{shipment}", voidOnCarrierOnly: true}) { shipment { id } '
        + PAYLOAD
        + " } }"
    ),
    "connectCarrier": Op(
        'mutation { connectCarrier(input: {kind: EASYPOST, name: "a-carrier", credentials: {easypost: {apiKey: '
        '"EZTKnotreal"}}}) { carrierAccount { id name } ' + PAYLOAD + " } }",
        scoped=False,
    ),
    "connectChannel": Op(
        'mutation { connectChannel(input: {kind: CSV, name: "A uploads"}) { channel { id name } ' + PAYLOAD + " } }",
        scoped=False,
    ),
    "syncChannel": Op('mutation { syncChannel(input: {channelId: "{channel}"}) { syncRun { id } ' + PAYLOAD + " } }"),
    "importOrdersCsv": Op("multipart", scoped=True),  # sent as a multipart upload into B's channel (the test)
    "reconnectChannel": Op(
        'mutation { reconnectChannel(input: {channelId: "{channel}"}) { channel { id } ' + PAYLOAD + " } }"
    ),
    "updateChannel": Op(
        'mutation { updateChannel(input: {channelId: "{channel}", name: "taken"}) { channel { id name } '
        + PAYLOAD
        + " } }"
    ),
    "testChannelConnection": Op(
        'mutation { testChannelConnection(input: {channelId: "{channel}"}) { ok storeName ' + PAYLOAD + " } }"
    ),
    "createApiKey": Op(
        'mutation { createApiKey(input: {name: "A partner", scopes: [READ_ORDERS]}) { apiKey { id } '
        + PAYLOAD
        + " } }",
        scoped=False,
    ),
    # {api_key} and {user}: account B's key and its owner (account_b()).
    "revokeApiKey": Op('mutation { revokeApiKey(input: {id: "{api_key}"}) { apiKey { id } ' + PAYLOAD + " } }"),
    "rotateApiKey": Op(
        'mutation { rotateApiKey(input: {id: "{api_key}", overlapSeconds: 0}) { key apiKey { id } ' + PAYLOAD + " } }"
    ),
    "createUser": Op(
        'mutation { createUser(input: {email: "a-clerk@a.example", password: "long enough pass", role: STAFF}) '
        "{ user { id } " + PAYLOAD + " } }",
        scoped=False,
    ),
    "updateUserRole": Op(
        'mutation { updateUserRole(input: {id: "{user}", role: READ_ONLY}) { user { id } ' + PAYLOAD + " } }"
    ),
    "removeUser": Op('mutation { removeUser(input: {id: "{user}"}) { removedUserId ' + PAYLOAD + " } }"),
}

#: Subscriptions are run over graphql-transport-ws by the test; the text is what it subscribes to.
SUBSCRIPTIONS: dict[str, Op] = {
    "orderChanged": Op("subscription { orderChanged { eventId type order { id number } } }", scoped=False),
    "syncRunProgress": Op('subscription { syncRunProgress(channelId: "{channel}") { id status } }'),
    "labelBatchProgress": Op('subscription { labelBatchProgress(batchId: "{batch}") { id status } }'),
}


def covered(operations: dict[str, Op]) -> set[str]:
    """Root field names the entries exercise (an entry may be a variant, e.g. ordersByChannel)."""
    names = set()
    for op in operations.values():
        if op.text == "multipart":
            names.add("importOrdersCsv")
            continue
        head = op.text.split("{", 1)[1].strip()
        names.add(head.split("(")[0].split("{")[0].split()[0])
    return names
