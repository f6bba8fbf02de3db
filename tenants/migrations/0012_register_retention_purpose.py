from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0011_transcription_opt_in"),
    ]

    operations = [
        migrations.AddField(
            model_name="processingregister",
            name="retention_purpose",
            field=models.TextField(
                blank=True,
                max_length=2000,
                verbose_name="why standard recordings are kept longer than 90 days",
            ),
        ),
    ]
