"""Customer e-mail templates: exact output, escaping where it matters, and mistakes refused with their line."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.notifications import NotificationKind
from adapters.notifications.mailer import SmtpServer, build_message, message_id, sender_address
from adapters.notifications.templates import (
    MessageFacts,
    ShippedLine,
    TemplateProblem,
    TemplateSource,
    default_template,
    render,
    validate_template,
)

FACTS = MessageFacts(
    order_number="#1042",
    customer_name="Jana Schulz",
    shop_name="Tea & Co",
    carrier_name="Waybill Sandbox",
    tracking_number="WB123",
    tracking_url="https://track.example/WB123?x=1&y=2",
    lines=(ShippedLine("Green tea", 2), ShippedLine("Teapot", 1)),
    delivered_date=date(2025, 3, 4),
)


def test_the_packaged_shipped_email_reads_exactly_so() -> None:
    message = render(NotificationKind.SHIPPED, FACTS)
    assert message.subject == "Your order #1042 from Tea & Co is on its way"
    assert message.text == (
        "Hello Jana Schulz,\n"
        "\n"
        "Good news: your order #1042 from Tea & Co has shipped with Waybill Sandbox.\n"
        "\n"
        "In this parcel:\n"
        "- 2 x Green tea\n"
        "- 1 x Teapot\n"
        "\n"
        "Tracking number: WB123\n"
        "Follow your parcel: https://track.example/WB123?x=1&y=2\n"
        "\n"
        "Thank you for your order,\n"
        "Tea & Co\n"
    )


def test_the_packaged_delivered_email_names_the_day() -> None:
    message = render(NotificationKind.DELIVERED, FACTS)
    assert message.subject == "Your order #1042 from Tea & Co has been delivered"
    assert "Waybill Sandbox delivered your order #1042 from Tea & Co on 2025-03-04.\n" in message.text
    assert "Delivery details: https://track.example/WB123?x=1&y=2\n" in message.text


def test_no_name_and_no_tracking_page_leave_no_gaps() -> None:
    bare = MessageFacts(
        order_number="#7",
        customer_name="",
        shop_name="Shop",
        carrier_name="USPS",
        tracking_number="1Z",
        tracking_url="",
        lines=(ShippedLine("Mug", 1),),
    )
    text = render(NotificationKind.SHIPPED, bare).text
    assert text.startswith("Hello,\n\n")
    assert "Follow your parcel" not in text
    assert "Tracking number: 1Z\n\nThank you" in text


def test_html_is_escaped_and_text_is_not() -> None:
    hostile = MessageFacts(
        order_number="#1",
        customer_name='<script>alert("x")</script>',
        shop_name="Tea & Co",
        carrier_name="USPS",
        tracking_number="1Z",
        tracking_url='https://t.example/?a=1&b="2"',
        lines=(ShippedLine("<b>Mug</b>", 1),),
    )
    message = render(NotificationKind.SHIPPED, hostile)
    assert message.html is not None
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in message.html
    assert "<li>1 &times; &lt;b&gt;Mug&lt;/b&gt;</li>" in message.html
    assert '<a href="https://t.example/?a=1&amp;b=&#34;2&#34;">' in message.html
    assert "Tea &amp; Co" in message.html
    assert 'Hello <script>alert("x")</script>,' in message.text  # plain text is shown as text by mail clients


def test_a_merchant_template_is_used_as_plain_text_without_the_packaged_html() -> None:
    custom = TemplateSource(
        subject="  {{ shop_name }}:\n order {{ order_number }}  shipped ",
        body="{% for line in lines %}{{ line.title }}={{ line.quantity }};{% endfor %} {{ tracking_url }}",
    )
    message = render(NotificationKind.SHIPPED, FACTS, custom)
    assert message.subject == "Tea & Co: order #1042 shipped"  # one header line, whatever the template does
    assert message.text == "Green tea=2;Teapot=1; https://track.example/WB123?x=1&y=2"
    assert message.html is None


def test_the_defaults_pass_their_own_validation() -> None:
    for kind in NotificationKind:
        source = default_template(kind)
        assert source.is_default
        validate_template(kind, source.subject, source.body)


@pytest.mark.parametrize(
    ("subject", "body", "part", "line", "words"),
    [
        (
            "Hi",
            "Hello {{ customer_name }},\n\nYour {{ order_numbr }} shipped.",
            "body",
            3,
            "unknown variable 'order_numbr'",
        ),
        ("Hi", "one\ntwo\n{% if tracking_url %}\nno end", "body", 4, "Unexpected end of template"),
        ("Hi", "{% for line in lines %}\n{{ line.sku }}\n{% endfor %}", "body", 2, "has no attribute 'sku'"),
        ("Order {{ order_number", "fine", "subject", 1, "expected 'end of print statement'"),
        ("Hi", "{{ ''.__class__.__mro__ }}", "body", 1, "unsafe"),
        ("Hi", "\n{{ delivered_date }}", "body", 2, "only known for DELIVERED"),
        ("", "body", "subject", None, "must not be empty"),
    ],
)
def test_a_broken_template_is_refused_with_its_line(
    subject: str, body: str, part: str, line: int | None, words: str
) -> None:
    with pytest.raises(TemplateProblem) as refused:
        validate_template(NotificationKind.SHIPPED, subject, body)
    assert refused.value.part == part
    assert refused.value.line == line
    assert words in refused.value.message
    if line is not None:
        assert f"line {line}:" in refused.value.message


def test_delivered_date_is_fine_in_a_delivered_template() -> None:
    validate_template(NotificationKind.DELIVERED, "Delivered", "On {{ delivered_date.strftime('%d/%m/%Y') }}")
    source = TemplateSource(subject="Delivered", body="On {{ delivered_date.strftime('%d/%m/%Y') }}")
    assert render(NotificationKind.DELIVERED, FACTS, source).text == "On 04/03/2025"


def test_the_smtp_url_is_read_and_its_password_never_shown() -> None:
    server = SmtpServer.from_url("smtp://mailer%40shop:s3cr%2Ft@mail.example:2525?starttls=1")
    assert (server.host, server.port, server.username, server.password) == (
        "mail.example",
        2525,
        "mailer@shop",
        "s3cr/t",
    )
    assert server.start_tls and not server.use_tls
    assert "s3cr" not in repr(server) and "s3cr" not in server.describe()
    tls = SmtpServer.from_url("smtps://mail.example")
    assert (tls.port, tls.use_tls, tls.start_tls) == (465, True, False)
    with pytest.raises(ValueError, match="smtp:// or smtps://") as bad:
        SmtpServer.from_url("http://u:topsecret@mail.example")
    assert "topsecret" not in str(bad.value)


def test_the_message_id_is_the_same_for_every_attempt() -> None:
    sender = sender_address("orders@tea.example", "Tea & Co")
    assert sender == "Tea & Co <orders@tea.example>"
    assert sender_address("orders@tea.example", "Smith, Tea") == '"Smith, Tea" <orders@tea.example>'
    assert sender_address("Tea Shop <orders@tea.example>", "ignored") == "Tea Shop <orders@tea.example>"
    first = message_id(42, NotificationKind.SHIPPED, sender)
    assert first == message_id(42, NotificationKind.SHIPPED, sender) == "<waybill.shipment-42.shipped@tea.example>"
    assert first != message_id(42, NotificationKind.DELIVERED, sender)
    message = build_message(
        sender=sender, recipient="jana@mail.example", rendered=render(NotificationKind.SHIPPED, FACTS), msg_id=first
    )
    assert message["Message-ID"] == first
    assert message["To"] == "jana@mail.example"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
