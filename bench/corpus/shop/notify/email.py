import smtplib
from email.message import EmailMessage


def send_order_confirmation(smtp_host: str, to: str, order_id: str) -> None:
    message = EmailMessage()
    message["Subject"] = f"Your order {order_id}"
    message["To"] = to
    message.set_content(f"Thanks for shopping with us. Order {order_id} is confirmed.")
    with smtplib.SMTP(smtp_host) as smtp:
        smtp.send_message(message)
