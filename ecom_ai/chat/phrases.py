"""The bot's own sentences, in every language it answers in (English and Chinese).

Articles and intent templates come from the shop's data (with their translations); these
are the sentences around them: questions for missing order details, the hand-off notices,
the off-topic answer and its suggestion buttons. ``phrase(key, language, **values)`` falls
back to English for a language without a translation.
"""

from __future__ import annotations

PHRASES: dict[str, dict[str, str]] = {
    "order_ask_both": {
        "en": "I can check that for you. Please tell me the order number and the e-mail address you used for the order.",
        "zh": "我可以帮您查询。请告诉我订单号和下单时使用的电子邮箱。",
    },
    "order_ask_number": {
        "en": "I can check that for you. Please tell me the order number.",
        "zh": "我可以帮您查询。请告诉我订单号。",
    },
    "order_ask_email": {
        "en": "I can check that for you. Please tell me the e-mail address you used for the order.",
        "zh": "我可以帮您查询。请告诉我下单时使用的电子邮箱。",
    },
    "order_none_on_account": {
        "en": "I can't find any orders on your account. If you ordered as a guest, log out and tell me the order "
        "number and the e-mail address you used, or ask for a member of our team.",
        "zh": "您的账户中没有找到订单。如果您是以游客身份下单的，请退出登录后告诉我订单号和下单邮箱，或联系人工客服。",
    },
    "order_not_on_account": {
        "en": "I couldn't find that order on your account. While you are logged in I can only show the orders of "
        "this account — please check the number. For an order placed as a guest, ask for a member of our team.",
        "zh": "在您的账户中没有找到这个订单。登录状态下我只能显示本账户的订单，请核对订单号。游客订单请联系人工客服。",
    },
    "order_not_found": {
        "en": "I couldn't find an order with that number and e-mail address. Please check both and try again.",
        "zh": "没有找到与该订单号和邮箱匹配的订单。请核对后重试。",
    },
    "order_lookup_blocked": {
        "en": "For your security I can't look up more orders right now. I've asked a member of our team to help "
        "you; they will reply here.",
        "zh": "为了您的账户安全，我暂时不能再查询订单。我已请人工客服协助您，他们会在这里回复。",
    },
    "orders_recent": {"en": "Your most recent orders:", "zh": "您最近的订单："},
    "order_line": {"en": "Order {number} {status}.", "zh": "订单 {number}{status}。"},
    "order_placed": {"en": " Placed on {date}.", "zh": "下单日期：{date}。"},
    "order_total": {"en": " Total: {total} {currency}.", "zh": "金额：{total} {currency}。"},
    "order_tracking": {"en": " Tracking number: {tracking}.", "zh": "物流单号：{tracking}。"},
    "order_status_other": {"en": "has the status “{status}”", "zh": "的状态为“{status}”"},
    "catalog_intro": {"en": "Here is what I found in our catalog:", "zh": "我在商品目录中找到了："},
    "catalog_none": {
        "en": "I couldn't find a product matching that in our catalog. Could you describe it differently?",
        "zh": "商品目录中没有找到符合的商品。能换个说法描述一下吗？",
    },
    "in_stock": {"en": "in stock", "zh": "有货"},
    "out_of_stock": {"en": "out of stock", "zh": "缺货"},
    "also_liked": {"en": "Customers also liked: {titles}.", "zh": "其他顾客还喜欢：{titles}。"},
    "handoff": {
        "en": "I'm passing this conversation to a member of our team; they will answer here shortly. Meanwhile I "
        "can still answer questions about orders, returns, shipping and payment.",
        "zh": "我已将对话转给人工客服，他们很快会在这里回复。在此期间，我仍可以回答订单、退货、配送和付款方面的问题。",
    },
    "handoff_after_misses": {
        "en": "I'm sorry I couldn't help with that. I've asked a member of our team to join; they will reply here. "
        "Meanwhile you can still ask me about orders, returns, shipping and payment.",
        "zh": "抱歉没能帮上忙。我已请人工客服加入，他们会在这里回复。在此期间，您仍可以问我订单、退货、配送和付款方面的问题。",
    },
    "complaint": {
        "en": "I'm sorry about this — that is not the experience we want you to have. I can help right away with a "
        "return, a refund or where your order is; or, if you prefer, a member of our team can take over this "
        "conversation.",
        "zh": "非常抱歉给您带来不好的体验。我可以马上帮您办理退货、退款或查询订单；如果您愿意，也可以转接人工客服来处理。",
    },
    "handoff_offer": {
        "en": "Would you like me to pass this conversation to a member of our team?",
        "zh": "需要我为您转接人工客服吗？",
    },
    "waiting_note": {
        "en": "(A member of our team has your conversation and will also reply here.)",
        "zh": "（人工客服已收到您的对话，也会在这里回复您。）",
    },
    "waiting_no_answer": {
        "en": "A member of our team has your conversation and will reply here shortly.",
        "zh": "人工客服已收到您的对话，很快会在这里回复您。",
    },
    "handoff_expired": {
        "en": "(Our team couldn't reply in time, so I'm back to help; ask for a person again at any time.)",
        "zh": "（人工客服暂时未能回复，我先继续为您服务；您随时可以再次要求转人工。）",
    },
    "off_topic": {
        "en": "Sorry, I can't help with that. I can help with orders, returns, shipping, payment and products — "
        "for example:",
        "zh": "抱歉，这个问题我帮不上忙。我可以帮您处理订单、退货、配送、付款和商品方面的问题，例如：",
    },
    "clarify": {"en": "Did you mean one of these?", "zh": "您是想问以下哪一个？"},
    "redacted": {
        "en": "For your safety I removed payment or login details from your message — please never share them in "
        "the chat.",
        "zh": "为了您的安全，我已删除您消息中的付款或登录信息——请不要在聊天中发送这些信息。",
    },
    "language_fallback": {
        "en": "(This answer is only available in {language}.)",
        "zh": "（此回答暂无中文版本，以下为{language}内容。）",
    },
    "error": {
        "en": "Sorry, something went wrong on our side. I've asked a member of our team to help; they will reply here.",
        "zh": "抱歉，我们这边出了点问题。我已请人工客服协助您，他们会在这里回复。",
    },
}

STATUS_WORDING: dict[str, dict[str, str]] = {
    "placed": {"en": "has been placed and is being prepared", "zh": "已下单，正在备货"},
    "pending": {"en": "is pending", "zh": "待处理"},
    "paid": {"en": "is paid and being prepared for shipping", "zh": "已付款，正在准备发货"},
    "processing": {"en": "is being prepared", "zh": "正在备货"},
    "shipped": {"en": "has shipped", "zh": "已发货"},
    "delivered": {"en": "has been delivered", "zh": "已送达"},
    "cancelled": {"en": "has been cancelled", "zh": "已取消"},
    "canceled": {"en": "has been cancelled", "zh": "已取消"},
    "refunded": {"en": "has been refunded", "zh": "已退款"},
}

LANGUAGE_NAMES: dict[str, dict[str, str]] = {
    "en": {"en": "English", "zh": "英文"},
    "zh": {"en": "Chinese", "zh": "中文"},
}

# suggestion buttons: (label by language, the intent the button asks for)
SUGGESTIONS: list[tuple[dict[str, str], str]] = [
    ({"en": "Where is my order?", "zh": "我的订单到哪了？"}, "order_status"),
    ({"en": "How do I return an item?", "zh": "怎么退货？"}, "return_item"),
    ({"en": "How much is shipping?", "zh": "运费多少？"}, "shipping_cost"),
    ({"en": "Which payment methods do you accept?", "zh": "支持哪些付款方式？"}, "payment_methods"),
    ({"en": "Talk to a person", "zh": "转人工客服"}, "human_agent"),
]

# hand-off intents that express dissatisfaction rather than ask for a person: even when the classifier
# is sure, the bot apologises and offers options and a "Talk to a person" button — it hands off only on
# that button, an explicit request or CHAT_HANDOFF_AFTER_MISSES misses (issue 14)
APOLOGY_INTENTS = {"complaint"}
# the options the apology offers (intents of the default pack; those a shop disabled are left out)
APOLOGY_OPTIONS = ("return_item", "refund", "order_status", "human_agent")

# how a clarifying button names an intent of the default pack (other intents: their description)
INTENT_LABELS: dict[str, dict[str, str]] = {
    "order_status": {"en": "Check my order status", "zh": "查询订单状态"},
    "cancel_order": {"en": "Cancel an order", "zh": "取消订单"},
    "return_item": {"en": "Return an item", "zh": "退货"},
    "refund": {"en": "Refunds", "zh": "退款"},
    "shipping_time": {"en": "Delivery times", "zh": "配送时间"},
    "shipping_cost": {"en": "Shipping costs", "zh": "运费"},
    "payment_methods": {"en": "Payment methods", "zh": "付款方式"},
    "payment_problem": {"en": "A payment problem", "zh": "付款问题"},
    "change_address": {"en": "Change the delivery address", "zh": "修改收货地址"},
    "product_question": {"en": "Search our products", "zh": "搜索商品"},
    "human_agent": {"en": "Talk to a person", "zh": "转人工客服"},
    "complaint": {"en": "Make a complaint", "zh": "投诉"},
    "account_help": {"en": "My account", "zh": "账户问题"},
    "invoice": {"en": "Invoices", "zh": "发票"},
    "discount": {"en": "Discount codes", "zh": "优惠码"},
    "greeting": {"en": "Say hello", "zh": "打招呼"},
    "thanks": {"en": "Say thanks", "zh": "致谢"},
    "goodbye": {"en": "Say goodbye", "zh": "再见"},
}


def phrase(key: str, language: str = "en", /, **values) -> str:
    texts = PHRASES[key]
    text = texts.get(language) or texts["en"]
    return text.format(**values) if values else text


def pick(texts: dict[str, str], language: str) -> str:
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")


def status_wording(status: str, language: str) -> str:
    wording = STATUS_WORDING.get((status or "").lower())
    if wording is None:
        return phrase("order_status_other", language, status=status)
    return pick(wording, language)


def language_name(code: str, in_language: str) -> str:
    names = LANGUAGE_NAMES.get(code)
    return pick(names, in_language) if names else code
