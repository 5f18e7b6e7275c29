from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User

COUNTRIES = [
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("FR", "France"),
    ("DE", "Germany"),
    ("NL", "Netherlands"),
    ("BE", "Belgium"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("PT", "Portugal"),
    ("SE", "Sweden"),
    ("PL", "Poland"),
    ("CH", "Switzerland"),
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
    ("JP", "Japan"),
    ("CN", "China"),
    ("SG", "Singapore"),
    ("IN", "India"),
    ("BR", "Brazil"),
    ("MX", "Mexico"),
    ("NG", "Nigeria"),
    ("ZA", "South Africa"),
    ("RU", "Russia"),
]
COUNTRY_CODES = [code for code, _ in COUNTRIES]


class CheckoutForm(forms.Form):
    name = forms.CharField(label="Full name", max_length=120)
    email = forms.EmailField(label="Email")
    address = forms.CharField(label="Shipping address", widget=forms.Textarea(attrs={"rows": 3}), max_length=1000)
    country = forms.ChoiceField(label="Shipping country", choices=COUNTRIES, initial="US")
    billing_country = forms.ChoiceField(label="Billing country", choices=COUNTRIES, initial="US")
    card_number = forms.CharField(
        label="Card number (demo — never charged, only a fingerprint is kept)",
        max_length=23,
        required=False,
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "placeholder": "4242 4242 4242 4242"}
        ),
    )
    coupon_code = forms.CharField(
        label="Coupon code (optional)",
        max_length=32,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "XXXX-XXXX-XXXX"}),
    )
    token = forms.RegexField(
        regex=r"^[0-9a-f]{32}$",
        widget=forms.HiddenInput,
        error_messages={"invalid": "This form has expired, please submit it again."},
    )

    def clean_card_number(self):
        digits = "".join(ch for ch in self.cleaned_data["card_number"] if ch.isdigit())
        raw = self.cleaned_data["card_number"].replace(" ", "").replace("-", "")
        if raw and (raw != digits or not 12 <= len(digits) <= 19):
            raise forms.ValidationError("Enter 12 to 19 digits, or leave it empty.")
        return digits


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True)

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")
